/* Try it · runner: steps a Session for the figure (assets/js/figures/try_it.js) until its target, shows the
   image and the metrics as it goes and at the end, stops, continues, and measures steps per second. */
(function () {
  'use strict';
  var T = (window.Caricatures.tryit = window.Caricatures.tryit || {});

  /** Return the canvas's pixels as a Float32Array of RGB values in [0, 1]. */
  T.read = function (canvas) {
    var rgba = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    var out = new Float32Array((rgba.length / 4) * 3);
    for (var i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      out[j] = rgba[i] / 255;
      out[j + 1] = rgba[i + 1] / 255;
      out[j + 2] = rgba[i + 2] / 255;
    }
    return out;
  };

  /** Paint RGB values in [0, 1] (size·size·3) into the canvas. */
  T.paint = function (canvas, rgb, size) {
    canvas.width = canvas.height = size;
    var ctx = canvas.getContext('2d'), img = ctx.createImageData(size, size);
    for (var i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
      img.data[i] = rgb[j] * 255 + 0.5;
      img.data[i + 1] = rgb[j + 1] * 255 + 0.5;
      img.data[i + 2] = rgb[j + 2] * 255 + 0.5;
      img.data[i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  };

  // Give the page a turn between steps (a message is not throttled like a chain of timeouts).
  function yieldToPage() {
    return new Promise(function (resolve) {
      var ch = new MessageChannel();
      ch.port1.onmessage = function () { resolve(); };
      ch.port2.postMessage(0);
    });
  }

  /** view: {show(rgb, size, step, target, metrics, rate), state(name), fail(error)}. */
  function Runner(session, view) {
    this.session = session;
    this.view = view;
    this.target = 0;
    this.rate = null;
    this.metrics = null;
    this.stopped = false;
    this.busy = false;
    this.dead = false;
  }

  // Show the image at most every 300 ms, and measure cosine and gain (one more forward pass) at most
  // every 2 s, so that a slow device spends its time on steps; `all` shows both now.
  Runner.prototype.show = function (all) {
    var s = this.session, self = this, now = performance.now();
    if (!all && now - this.shown < 300) return Promise.resolve();
    var measure = all || now - this.measured >= 2000;
    this.shown = now;
    if (measure) this.measured = now;
    return Promise.all([s.pixels(), measure ? s.metrics() : this.metrics]).then(function (r) {
      self.metrics = r[1];
      if (!self.dead) self.view.show(r[0], s.size, s.step, self.target, r[1], self.rate);
    });
  };

  /** Run to the target, or `steps` past the current step when the target is reached; resolve when stopped. */
  Runner.prototype.run = function (steps) {
    if (this.busy) return this.done;
    var s = this.session, self = this, first = s.step, t0 = 0;
    if (s.step >= this.target) this.target = s.step + steps;
    this.stopped = false;
    this.busy = true;
    this.shown = this.measured = -Infinity;
    this.view.state('running');
    function tick() {
      if (self.dead || self.stopped || s.step >= self.target) {
        return (self.dead ? Promise.resolve() : self.show(true)).then(function () {
          self.busy = false;
          if (self.dead) return s.dispose();
          self.view.state(self.stopped ? 'stopped' : 'done');
        });
      }
      return s.run().then(function () {
        if (s.step === first + 1) t0 = performance.now();   // the first step compiles the shaders
        else self.rate = (s.step - first - 1) / ((performance.now() - t0) / 1000);
        return self.show(false);
      }).then(yieldToPage).then(tick);
    }
    this.done = tick().catch(function (e) {
      self.busy = false;
      self.view.fail(e);
    });
    return this.done;
  };

  Runner.prototype.stop = function () { this.stopped = true; };

  /** Stop and free the session's tensors (after the step in flight, if any). */
  Runner.prototype.dispose = function () {
    this.dead = true;
    if (!this.busy) this.session.dispose();
  };

  T.Runner = Runner;
})();
