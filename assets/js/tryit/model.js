/* Try it · model: an exported EfficientNet-Lite in TensorFlow.js (NHWC), built from the weight scripts that
   sitegen/web_export.py writes (BatchNorm folded, float16). Convolutions pad "SAME" as TensorFlow does:
   output ceil(in / stride), the odd pixel of padding at the bottom and right. */
(function () {
  'use strict';
  var T = (window.Caricatures.tryit = window.Caricatures.tryit || {});

  var HALF = null;
  function halfTable() {   // float16 bit pattern → float32 value, for all 65536 patterns
    if (HALF) return HALF;
    HALF = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
      HALF[h] = exp === 0 ? sign * frac * Math.pow(2, -24)
        : exp === 31 ? (frac ? NaN : sign * Infinity)
          : sign * (1 + frac / 1024) * Math.pow(2, exp - 15);
    }
    return HALF;
  }

  /** Decode base64 little-endian float16 data to a Float32Array. */
  T.decodeHalf = function (b64) {
    var bytes = atob(b64), table = halfTable();
    var out = new Float32Array(bytes.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = table[bytes.charCodeAt(2 * i) | (bytes.charCodeAt(2 * i + 1) << 8)];
    return out;
  };

  /** A model grown part by part: `add(payload)` appends the stages of the next weights part. */
  function Model() {
    this.stages = [];
    this.parts = 0;
    this.preprocess = null;
  }

  Model.prototype.add = function (p) {
    var tf = window.tf;
    if (p.part !== this.parts) throw new Error('weights part ' + p.part + ' arrived before part ' + this.parts);
    var data = T.decodeHalf(p.data);
    var tensors = p.tensors.map(function (t) {
      var size = t[0].reduce(function (a, b) { return a * b; }, 1);
      return tf.keep(tf.tensor(data.subarray(t[1], t[1] + size), t[0], 'float32'));
    });
    var stages = this.stages;
    p.stages.forEach(function (s) {
      stages.push({ name: s.name, residual: s.residual, convs: s.convs.map(function (c) {
        return { w: tensors[c.w], b: tensors[c.b], depthwise: c.depthwise, stride: c.stride, relu6: c.relu6 };
      }) });
    });
    this.preprocess = p.preprocess;
    this.parts += 1;
  };

  Model.prototype.has = function (name) {
    return this.stages.some(function (s) { return s.name === name; });
  };

  function conv(x, c) {
    var tf = window.tf;
    var y = c.depthwise ? tf.depthwiseConv2d(x, c.w, c.stride, 'same') : tf.conv2d(x, c.w, c.stride, 'same');
    y = tf.add(y, c.b);
    return c.relu6 ? tf.relu6(y) : y;
  }

  /** Return {name: activation} of images x (N, H, W, 3) in [0, 1], running only as deep as the names need. */
  Model.prototype.forward = function (x, names) {
    var tf = window.tf, out = {}, left = names.length;
    var h = tf.add(tf.mul(x, this.preprocess[0]), this.preprocess[1]);
    for (var i = 0; i < this.stages.length && left > 0; i++) {
      var s = this.stages[i], y = h;
      for (var j = 0; j < s.convs.length; j++) y = conv(y, s.convs[j]);
      h = s.residual ? tf.add(y, h) : y;
      if (names.indexOf(s.name) >= 0) {
        out[s.name] = h;
        left -= 1;
      }
    }
    if (left > 0) throw new Error('layers not loaded: ' + names.filter(function (n) { return !out[n]; }).join(', '));
    return out;
  };

  T.Model = Model;
})();
