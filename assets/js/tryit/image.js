/* Try it · image: lucid's FFT parametrization with colour decorrelation, as caricatures/param.py's fft_image.

A spectrum (re/im, 3, h, w//2+1), drawn N(0, 0.01), scaled by 1/max(f, 1/max(h, w)), turned into an image by
an orthonormal 2-D inverse real DFT divided by 4, mapped from the decorrelated colour space to RGB and
squashed by a sigmoid. TensorFlow.js registers no gradient for its FFT ops, so the inverse DFT is two matrix
products (along the rows, then the columns): exact and differentiable. Like a real inverse FFT it ignores
the imaginary part of the columns 0 and w/2 (they carry no real signal). */
(function () {
  'use strict';
  var T = (window.Caricatures.tryit = window.Caricatures.tryit || {});

  // lucid's square root of the ImageNet colour covariance (rows R, G, B), divided by its largest column norm.
  var SVD_SQRT = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];
  T.colorMatrix = function () {
    var norms = [0, 1, 2].map(function (j) {
      return Math.sqrt(SVD_SQRT.reduce(function (s, row) { return s + row[j] * row[j]; }, 0));
    });
    var top = Math.max.apply(null, norms);
    return SVD_SQRT.map(function (row) { return row.map(function (v) { return v / top; }); });
  };

  function freq(i, n) {   // numpy's fftfreq(n)[i]
    return (i < Math.ceil(n / 2) ? i : i - n) / n;
  }

  /** Return the (h, w//2+1) spectrum scale 1 / max(f, 1/max(h, w)) as a Float32Array. */
  T.freqScale = function (h, w) {
    var wr = Math.floor(w / 2) + 1, out = new Float32Array(h * wr);
    for (var k = 0; k < h; k++) {
      for (var l = 0; l < wr; l++) {
        var f = Math.sqrt(freq(k, h) * freq(k, h) + (l / w) * (l / w));
        out[k * wr + l] = 1 / Math.max(f, 1 / Math.max(w, h));
      }
    }
    return out;
  };

  // [[C, −S], [S, C]] (2h × 2h) with C[n][k] = cos(2πkn/h): the complex inverse DFT along the rows.
  function rowsMatrix(h) {
    var m = new Float32Array(4 * h * h);
    for (var n = 0; n < h; n++) {
      for (var k = 0; k < h; k++) {
        var a = (2 * Math.PI * ((k * n) % h)) / h, c = Math.cos(a), s = Math.sin(a);
        m[n * 2 * h + k] = c;
        m[n * 2 * h + h + k] = -s;
        m[(h + n) * 2 * h + k] = s;
        m[(h + n) * 2 * h + h + k] = c;
      }
    }
    return m;
  }

  // [c·cos; −c·sin] (2·wr × w) times `scale`: the real part of the inverse DFT along the columns, each
  // column l < w/2 counted twice (it stands for l and −l), sin rows of columns 0 and w/2 vanishing.
  function colsMatrix(w, scale) {
    var wr = Math.floor(w / 2) + 1, m = new Float32Array(2 * wr * w);
    for (var l = 0; l < wr; l++) {
      var twice = l === 0 || 2 * l === w ? 1 : 2;
      for (var x = 0; x < w; x++) {
        var a = (2 * Math.PI * ((l * x) % w)) / w;
        m[l * w + x] = twice * Math.cos(a) * scale;
        m[(wr + l) * w + x] = -twice * Math.sin(a) * scale;
      }
    }
    return m;
  }

  /**
   * An FFT-parametrized size×size image: {variable, render(), dispose()}; render() → (1, h, w, 3) in [0, 1].
   * opts: seed (the spectrum's normal draw), decorrelate (default true).
   */
  T.FFTImage = function (size, opts) {
    var tf = window.tf, h = size, w = size, wr = Math.floor(w / 2) + 1;
    opts = opts || {};
    this.size = size;
    // TensorFlow.js takes a seed of 0 for no seed (Math.random): count seeds from 1.
    this.variable = tf.variable(tf.randomNormal([2, 3, h, wr], 0, 0.01, 'float32', (opts.seed || 0) + 1));
    this.scale = tf.tensor(T.freqScale(h, w), [h, wr]);
    this.rows = tf.tensor(rowsMatrix(h), [2 * h, 2 * h]);
    this.cols = tf.tensor(colsMatrix(w, 1 / (4 * Math.sqrt(h * w))), [2 * wr, w]);
    var m = opts.decorrelate === false ? [[1, 0, 0], [0, 1, 0], [0, 0, 1]] : T.colorMatrix();
    this.color = tf.tensor([0, 1, 2].map(function (j) { return m.map(function (row) { return row[j]; }); }));
  };

  /** Return the image of the spectrum `spectrum` (default: the variable), (1, h, w, 3) in [0, 1]. */
  T.FFTImage.prototype.render = function (spectrum) {
    var tf = window.tf, h = this.size, w = this.size, wr = Math.floor(w / 2) + 1, self = this;
    return tf.tidy(function () {
      var x = tf.mul(spectrum || self.variable, self.scale);                      // (2, 3, h, wr)
      x = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [2 * h, 3 * wr]);             // [re; im] by row
      var y = tf.matMul(self.rows, x);                                            // [Yr; Yi]
      y = tf.reshape(tf.transpose(tf.reshape(y, [2, h, 3, wr]), [1, 2, 0, 3]), [3 * h, 2 * wr]);
      var t = tf.transpose(tf.reshape(tf.matMul(y, self.cols), [h, 3, w]), [0, 2, 1]);   // (h, w, 3)
      var rgb = tf.matMul(tf.reshape(t, [h * w, 3]), self.color);
      return tf.reshape(tf.sigmoid(rgb), [1, h, w, 3]);
    });
  };

  T.FFTImage.prototype.dispose = function () {
    [this.variable, this.scale, this.rows, this.cols, this.color].forEach(function (t) { t.dispose(); });
  };
})();
