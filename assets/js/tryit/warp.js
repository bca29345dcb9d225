/* Try it · transforms: lucid's standard transforms as caricatures/transforms.py composes them, one affine map.

Pad 12 (value 0.5) → jitter 8 → scale {0.90 … 1.10} → rotate {−10 … 10}° (and five extra 0°) → jitter 4 →
centre crop or pad back to the image size, composed into one map from output to source pixels and sampled
bilinearly with 0.5 outside the image (transforms.pixel_matrix and apply_affine). The draws come from this
page's own seeded generator, so they are not the engine's draws. TensorFlow.js has no differentiable
resampler: the sampling is a gather of four corners, and its gradient a gather over the transposed lists. */
(function () {
  'use strict';
  var T = (window.Caricatures.tryit = window.Caricatures.tryit || {});
  var FILL = 0.5;

  var scales = [], angles = [];
  for (var i = 0; i <= 10; i++) scales.push(1 + (i - 5) / 50);
  for (var a = -10; a <= 10; a++) angles.push(a);
  T.STANDARD = { pad: 12, jitter: 8, scales: scales, angles: angles.concat([0, 0, 0, 0, 0]), jitter2: 4 };

  /** A seeded generator of transform draws (mulberry32): next() → {offset: [y, x], scale, angle, offset2}. */
  T.Draws = function (seed, spec) {
    var s = seed >>> 0;
    this.spec = spec || T.STANDARD;
    this.random = function () {
      s = (s + 0x6d2b79f5) >>> 0;
      var t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  };
  T.Draws.prototype.pick = function (n) { return Math.floor(this.random() * n); };
  T.Draws.prototype.next = function () {
    var s = this.spec, j = s.jitter;
    var offset = [this.pick(j + 1), this.pick(j + 1)];
    var scale = s.scales[this.pick(s.scales.length)], angle = s.angles[this.pick(s.angles.length)];
    return { offset: offset, scale: scale, angle: angle, offset2: [this.pick(s.jitter2 + 1), this.pick(s.jitter2 + 1)] };
  };

  function mul(a, b) {   // 3×3 row-major matrices
    var out = [];
    for (var r = 0; r < 3; r++) {
      for (var c = 0; c < 3; c++) out.push(a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c]);
    }
    return out;
  }
  function shift(dx, dy) { return [1, 0, dx, 0, 1, dy, 0, 0, 1]; }
  function centerOffset(sizeIn, sizeOut) {
    return sizeIn >= sizeOut ? Math.floor((sizeIn - sizeOut) / 2) : -Math.floor((sizeOut - sizeIn) / 2);
  }
  function rotation(angle, h, w) {
    var r = (angle * Math.PI) / 180, cx = (w - 1) / 2, cy = (h - 1) / 2;
    var rot = [Math.cos(r), -Math.sin(r), 0, Math.sin(r), Math.cos(r), 0, 0, 0, 1];
    return mul(mul(shift(cx, cy), rot), shift(-cx, -cy));
  }

  /** Return the 3×3 map from output pixel (x, y, 1) to source pixel coordinates (pixel centres at integers). */
  T.pixelMatrix = function (spec, draw, h, w, out) {
    var jh = h + 2 * spec.pad - spec.jitter, jw = w + 2 * spec.pad - spec.jitter;
    var kh = Math.floor(draw.scale * jh), kw = Math.floor(draw.scale * jw);
    var toRotated = shift(centerOffset(kw - spec.jitter2, out[1]) + draw.offset2[1],
      centerOffset(kh - spec.jitter2, out[0]) + draw.offset2[0]);
    var unscale = mul(mul(shift(-0.5, -0.5), [jw / kw, 0, 0, 0, jh / kh, 0, 0, 0, 1]), shift(0.5, 0.5));
    var toSource = shift(draw.offset[1] - spec.pad, draw.offset[0] - spec.pad);
    return mul(mul(mul(toSource, unscale), rotation(draw.angle, kh, kw)), toRotated);
  };

  /**
   * Plan the bilinear sampling of an h×w image at map m into an oh×ow output: forward corner indices and
   * weights (corner-major; index h·w is the fill value) and, for the gradient, each source pixel's list of
   * (output pixel, weight), padded to the longest list (index oh·ow is a zero).
   */
  T.plan = function (m, h, w, oh, ow) {
    var n = oh * ow, nIn = h * w;
    var idx = new Int32Array(4 * n), wt = new Float32Array(4 * n), count = new Int32Array(nIn);
    for (var y = 0; y < oh; y++) {
      for (var x = 0; x < ow; x++) {
        var o = y * ow + x;
        var sx = m[0] * x + m[1] * y + m[2], sy = m[3] * x + m[4] * y + m[5];
        var x0 = Math.floor(sx), y0 = Math.floor(sy), fx = sx - x0, fy = sy - y0;
        for (var c = 0; c < 4; c++) {
          var cx = x0 + (c & 1), cy = y0 + (c >> 1);
          var inside = cx >= 0 && cx < w && cy >= 0 && cy < h;
          idx[c * n + o] = inside ? cy * w + cx : nIn;
          wt[c * n + o] = (c & 1 ? fx : 1 - fx) * (c >> 1 ? fy : 1 - fy);
          if (inside) count[cy * w + cx] += 1;
        }
      }
    }
    var k = 1;
    for (var j = 0; j < nIn; j++) k = Math.max(k, count[j]);
    var bIdx = new Int32Array(nIn * k).fill(n), bWt = new Float32Array(nIn * k), fill = new Int32Array(nIn);
    for (var e = 0; e < 4 * n; e++) {
      var src = idx[e];
      if (src === nIn) continue;
      var slot = src * k + fill[src]++;
      bIdx[slot] = e % n;
      bWt[slot] = wt[e];
    }
    return { h: h, w: w, oh: oh, ow: ow, k: k, idx: idx, wt: wt, bIdx: bIdx, bWt: bWt };
  };

  function sample(tf, x, p, idx, wt) {
    var flat = tf.concat([tf.reshape(x, [p.h * p.w, 3]), tf.fill([1, 3], FILL)], 0);
    var corners = tf.mul(tf.gather(flat, idx), wt);
    return tf.reshape(tf.sum(tf.reshape(corners, [4, p.oh * p.ow, 3]), 0), [1, p.oh, p.ow, 3]);
  }

  /** Return a function that applies the plan to an image (1, h, w, 3), differentiable, and its tensors. */
  T.warper = function (p) {
    var tf = window.tf;
    var idx = tf.tensor1d(p.idx, 'int32'), wt = tf.tensor2d(p.wt, [p.wt.length, 1]);
    var bIdx = tf.tensor1d(p.bIdx, 'int32'), bWt = tf.tensor2d(p.bWt, [p.bWt.length, 1]);
    var apply = tf.customGrad(function (x) {
      return {
        value: sample(tf, x, p, idx, wt),
        gradFunc: function (dy) {
          var d = tf.concat([tf.reshape(dy, [p.oh * p.ow, 3]), tf.zeros([1, 3])], 0);
          var g = tf.mul(tf.gather(d, bIdx), bWt);
          return tf.reshape(tf.sum(tf.reshape(g, [p.h * p.w, p.k, 3]), 1), [1, p.h, p.w, 3]);
        },
      };
    });
    return { apply: apply, plain: function (x) { return sample(tf, x, p, idx, wt); },
      dispose: function () { [idx, wt, bIdx, bWt].forEach(function (t) { t.dispose(); }); } };
  };
})();
