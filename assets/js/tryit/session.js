/* Try it · session: one caricature optimized step by step, as caricatures/render.py does it for one image.

Each step draws one transform and applies it to both the photo and the image; the objective is lucid's
dot_compare with cossim_pow 0, the dot product of their activations at the layer, maximized with Adam
(lr 0.05). Cosine and gain are measured on the untransformed images, as caricatures/metrics.py does. */
(function () {
  'use strict';
  var T = (window.Caricatures.tryit = window.Caricatures.tryit || {});
  var TRANSFORM_SEED_OFFSET = 7919;

  /**
   * opts: model (T.Model), photo (Float32Array, size·size·3 in [0, 1], rows of RGB pixels), size, layer,
   * seed (default 0), lr (default 0.05), transforms (default true), decorrelate (default true).
   */
  function Session(opts) {
    var tf = window.tf, self = this;
    this.model = opts.model;
    this.size = opts.size;
    this.layer = opts.layer;
    this.step = 0;
    this.transforms = opts.transforms !== false;
    this.image = new T.FFTImage(opts.size, { seed: opts.seed || 0, decorrelate: opts.decorrelate });
    this.draws = new T.Draws((opts.seed || 0) + TRANSFORM_SEED_OFFSET);
    // The same update as torch's Adam, with its epsilon 1e-8 (TensorFlow.js defaults to 1e-7).
    this.optimizer = tf.train.adam(opts.lr || 0.05, 0.9, 0.999, 1e-8);
    this.photo = tf.tensor(opts.photo, [1, opts.size, opts.size, 3]);
    this.original = tf.tidy(function () { return self.activation(self.photo); });
    this.originalNorm2 = tf.tidy(function () { return tf.sum(tf.square(self.original)); }).dataSync()[0];
  }

  Session.prototype.activation = function (x) {
    return this.model.forward(x, [this.layer])[this.layer];
  };

  /** Run one optimization step; resolve to the step's objective over ‖A(photo)‖² (on the transformed images). */
  Session.prototype.run = function () {
    var tf = window.tf, self = this, s = this.size;
    var plan = this.transforms ? T.plan(T.pixelMatrix(T.STANDARD, this.draws.next(), s, s, [s, s]), s, s, s, s) : null;
    var warp = plan ? T.warper(plan) : { apply: tf.clone, plain: tf.clone, dispose: function () {} };
    var cost = tf.tidy(function () {
      // Divided by a constant, ‖A(photo)‖²: Adam takes the same steps, and the sum stays small enough for
      // GPUs that compute in half precision. The value reads as the gain on the transformed images.
      var target = tf.mul(self.activation(warp.plain(self.photo)), 1 / self.originalNorm2);
      return self.optimizer.minimize(function () {
        var a = self.activation(warp.apply(self.image.render()));
        return tf.neg(tf.sum(tf.mul(a, target)));
      }, true, [self.image.variable]);
    });
    warp.dispose();
    this.step += 1;
    return cost.data().then(function (v) {
      cost.dispose();
      return -v[0];
    });
  };

  /** Resolve to {cosine, gain} of the current image against the photo at the layer, untransformed. */
  Session.prototype.metrics = function () {
    var tf = window.tf, self = this;
    var parts = tf.tidy(function () {
      var a = self.activation(self.image.render());
      return tf.stack([tf.sum(tf.mul(a, self.original)), tf.sum(tf.square(a))]);
    });
    return parts.data().then(function (v) {
      parts.dispose();
      var no2 = self.originalNorm2, dot = v[0], na = Math.sqrt(v[1]);
      return { cosine: na > 0 && no2 > 0 ? dot / (na * Math.sqrt(no2)) : 0, gain: no2 > 0 ? dot / no2 : 0 };
    });
  };

  /** Resolve to the current image as a Float32Array of size·size·3 values in [0, 1]. */
  Session.prototype.pixels = function () {
    var img = this.image.render();
    return img.data().then(function (v) { img.dispose(); return v; });
  };

  Session.prototype.dispose = function () {
    this.image.dispose();
    this.optimizer.dispose();
    this.photo.dispose();
    this.original.dispose();
  };

  T.Session = Session;
})();
