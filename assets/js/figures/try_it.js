/* try_it: the reader caricatures a photo in the browser (figures/try_it.py gives the data).

Data: photos [{key, label, photo (thumbnail tile), file (its script)}], layers [{key, label, channels, stride,
parts (weight scripts up to it)}], sizes, steps, initial {photo, layer, size, steps}, lr, seed. Nothing heavy
loads with the page: the thumbnails load when the figure comes near the viewport; TensorFlow.js, the engine
(assets/js/tryit/), the weights and the photos only when the reader presses Start. A photo of the reader's
own is decoded with createImageBitmap and never leaves the page.
*/
(function () {
  'use strict';
  var C = window.Caricatures, lib = C.lib, h = lib.h;
  var T = (C.tryit = C.tryit || {});
  var LIBRARY = 'assets/vendor/tfjs/tf.min.js';
  var ENGINE = ['model', 'image', 'warp', 'session', 'runner'].map(function (n) { return 'assets/js/tryit/' + n + '.js'; });
  var YOURS = '__yours';
  var scripts = {}, engine = null, chain = Promise.resolve();

  /** Load a script once (a <script src> works from file://, where fetch() does not). */
  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise(function (resolve, reject) {
        var s = h('script', { src: src });
        s.onload = resolve;
        s.onerror = function () { reject(new Error('could not load ' + src)); };
        document.head.appendChild(s);
      });
    }
    return scripts[src];
  }

  /** Resolve to the payload that the script `src` (written by sitegen/web_export.py) stores. */
  T.payload = function (src) {
    return loadScript(src).then(function () {
      var p = (window.CaricaturesPayload || {})[src];
      if (!p) throw new Error(src + ' holds no payload');
      return p;
    });
  };

  /** Load TensorFlow.js, the engine and the weights up to `layer` (an entry of data.layers); resolve to the model. */
  T.open = function (layer) {
    if (!engine) {
      engine = loadScript(LIBRARY).then(function () {
        var want = (window.CARICATURES_TRYIT || {}).backend;   // tests and measurements pick a backend
        return want ? window.tf.setBackend(want) : window.tf.ready();
      }).then(function () { return Promise.all(ENGINE.map(loadScript)); }).then(function () { return new T.Model(); });
    }
    chain = chain.then(function () { return engine; }).then(function (model) {
      return layer.parts.slice(model.parts).reduce(function (done, src) {
        return done.then(function () { return T.payload(src); }).then(function (p) { model.add(p); });
      }, Promise.resolve()).then(function () { return model; });
    });
    return chain;
  };

  /** Draw `source` (image, bitmap or canvas), centre-cropped to a square, into a size×size canvas. */
  T.square = function (source, size, canvas) {
    var w = source.naturalWidth || source.width, ht = source.naturalHeight || source.height, m = Math.min(w, ht);
    canvas = canvas || document.createElement('canvas');
    canvas.width = canvas.height = size;
    var ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(source, (w - m) / 2, (ht - m) / 2, m, m, 0, 0, size, size);
    return canvas;
  };

  function whenNear(node, fn) {
    if (!('IntersectionObserver' in window)) return fn();
    var seen = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; })) { seen.disconnect(); fn(); }
    }, { rootMargin: '600px 0px' });
    seen.observe(node);
  }

  function picker(values, initial, label, unit) {
    var select = h('select', { class: 'cv-select' }, values.map(function (v) {
      return h('option', { value: v, selected: v === initial, text: v + unit });
    }));
    return { select: select, root: h('label', { class: 'cv-field' }, [h('span', { class: 'cv-field-label', text: label }), select]) };
  }

  function fileButton(text, attrs, onFile) {
    var input = h('input', Object.assign({ type: 'file', accept: 'image/*', class: 'cv-tryit-file' }, attrs));
    input.addEventListener('change', function () { onFile(input.files[0]); input.value = ''; });
    return h('label', { class: 'cv-button' }, [text, input]);
  }

  C.figures.try_it = function mount(el, index, ctx) {
    var d = index.data || {};
    var photos = lib.list(d, 'photos', 'try_it').concat([{ key: YOURS, label: 'Yours' }]);
    var layers = lib.list(d, 'layers', 'try_it');
    var init = d.initial || {};
    var sel = { p: lib.indexOf(photos, init.photo), l: lib.indexOf(layers, init.layer) };
    var own = null, runner = null, name = '', backend = '';

    var tile = h('div', { class: 'cv-tile', role: 'img' });
    var photoCanvas = h('canvas', { class: 'cv-tryit-canvas', role: 'img', hidden: true });
    var car = h('canvas', { class: 'cv-tryit-canvas', role: 'img', 'aria-label': 'caricature', hidden: true });
    var empty = h('div', { class: 'cv-tryit-empty', text: 'Press Start' });
    var readout = h('div', { class: 'cv-metrics cv-tryit-readout', text: '\u00a0' });
    var status = h('div', { class: 'cv-status', role: 'status', 'aria-live': 'polite' });
    var panel = function (box, cap) {
      return h('div', { class: 'cv-panel' }, [h('div', { class: 'cv-tryit-frame' }, box), h('div', { class: 'cv-cap', text: cap })]);
    };
    var photoChoice = lib.choice({ label: 'Photo', items: photos, selected: sel.p, thumbs: true, caption: true,
      sprites: ctx.sprites, onSelect: function (i) { if (i !== sel.p && (photos[i].key !== YOURS || own)) pickPhoto(i); } });
    photoChoice.setDisabled(photos.length - 1, true);
    var layerChoice = lib.choice({ label: 'Layer', items: layers, selected: sel.l, caption: true, sprites: ctx.sprites,
      onSelect: function (i) { if (i !== sel.l) { sel.l = i; layerChoice.mark(i); describe(); } } });
    var layerNote = h('div', { class: 'cv-cap' });
    var size = picker(d.sizes || [64, 128, 224], init.size, 'Size', ' px');
    var steps = picker(d.steps || [32, 96, 512], init.steps, 'Steps', '');
    var coarse = window.matchMedia && window.matchMedia('(pointer: coarse)').matches;
    var ownRow = h('div', { class: 'cv-tryit-own' }, [
      fileButton('Choose a photo…', {}, usePhoto),
      coarse ? fileButton('Take a photo', { capture: 'environment' }, usePhoto) : null,
      h('span', { class: 'cv-cap', text: 'or drop one on this figure' })]);
    var privacy = h('p', { class: 'cv-cap cv-tryit-private',
      text: 'Your photo stays on your device: the page reads and caricatures it here, in your browser, and sends it nowhere.' });
    var buttons = {};
    ['Start', 'Stop', 'Continue', 'Download PNG'].forEach(function (label) {
      buttons[label] = h('button', { type: 'button', class: 'cv-button' + (label === 'Start' ? ' cv-primary' : ''), text: label });
    });
    var root = h('div', { class: 'cv cv-tryit', 'data-state': 'idle' }, [
      h('div', { class: 'cv-tryit-view' }, [
        h('div', { class: 'cv-pair' }, [panel([tile, photoCanvas], 'photo'), panel([car, empty], 'caricature')]),
        readout, status]),
      h('div', { class: 'cv-tryit-side' }, [photoChoice.root, ownRow, privacy,
        h('div', { class: 'cv-field' }, [layerChoice.root, layerNote]),
        h('div', { class: 'cv-controls' }, [size.root, steps.root]),
        h('div', { class: 'cv-tryit-buttons' }, Object.keys(buttons).map(function (k) { return buttons[k]; }))])]);
    el.appendChild(root);

    function state(s) {
      root.setAttribute('data-state', s);
      var has = !!runner && s !== 'loading';
      buttons.Start.disabled = s === 'loading';
      buttons.Stop.disabled = s !== 'running' && s !== 'loading';
      buttons.Continue.disabled = !has || s === 'running';
      buttons['Download PNG'].disabled = !has || car.hidden;
      if (s === 'running') status.textContent = 'Running on ' + backend + '.';
      if (s === 'done' || s === 'stopped') status.textContent = (s === 'done' ? 'Done' : 'Stopped') + ' after ' + runner.session.step + ' steps.';
    }
    // A new photo, layer or size makes the shown caricature another run's: it goes, and Start makes the new one.
    function discard() {
      if (!runner && !buttons.Start.run) return;
      if (runner) runner.dispose();
      runner = null;
      buttons.Start.run = null;
      car.hidden = true;
      empty.hidden = false;
      readout.textContent = '\u00a0';
      status.textContent = '';
      state('idle');
    }
    function describe() {
      discard();
      var l = layers[sel.l], side = Math.ceil(Number(size.select.value) / l.stride);
      layerNote.textContent = l.label + ' · ' + l.channels + ' channels · ' + side + '×' + side + ' positions';
    }
    function pickPhoto(i) {
      discard();
      sel.p = i;
      photoChoice.mark(i);
      photoCanvas.hidden = photos[i].key !== YOURS;
      tile.hidden = !photoCanvas.hidden;
      if (own && photos[i].key === YOURS) T.square(own.bitmap, 224, photoCanvas);
      else ctx.sprites.paint(tile, photos[i].photo, 'photos[' + i + '].photo');
      tile.setAttribute('aria-label', 'photo: ' + (photos[i].label || photos[i].key));
      photoCanvas.setAttribute('aria-label', 'photo: ' + (photos[i].key === YOURS ? 'yours' : photos[i].label || photos[i].key));
    }
    function usePhoto(file) {
      if (!file) return;
      createImageBitmap(file).then(function (bitmap) {
        own = { bitmap: bitmap, name: (file.name || 'photo').replace(/\.[^.]*$/, '').replace(/[^\w-]+/g, '_') };
        var last = photos.length - 1;
        photoChoice.setDisabled(last, false);
        photoChoice.tiles[last].style.backgroundImage = 'url("' + T.square(bitmap, 96).toDataURL('image/jpeg', 0.85) + '")';
        photoChoice.tiles[last].style.backgroundSize = 'cover';
        pickPhoto(last);
      }, function () { status.textContent = 'This file could not be read as an image; try a JPEG or PNG.'; });
    }
    function pixels(photo, px) {
      if (photo.key === YOURS) return Promise.resolve(T.read(T.square(own.bitmap, px)));
      return T.payload(photo.file).then(function (p) {
        var img = new Image();
        img.src = p.url;
        return img.decode().then(function () { return T.read(T.square(img, px)); });
      });
    }
    var view = {
      show: function (rgb, px, step, target, m, rate) {
        T.paint(car, rgb, px);
        car.hidden = false;
        empty.hidden = true;
        var left = rate && step < target ? (target - step) / rate : 0;
        readout.textContent = 'step ' + step + ' / ' + target + (m ? ' · cosine ' + lib.fmt(m.cosine, '.3f') + ' · gain ' +
          lib.fmt(m.gain, '.2f') + '×' : '') + (rate ? ' · ' + lib.fmt(rate, '.3g') + ' steps/s' : '') +
          (left > 5 ? ' · about ' + (left < 90 ? Math.round(left) + ' s' : Math.round(left / 60) + ' min') + ' left' : '');
        root.setAttribute('data-step', step);
        if (m) {
          root.setAttribute('data-cosine', m.cosine);
          root.setAttribute('data-gain', m.gain);
        }
      },
      state: state,
      fail: function (e) {
        state('error');
        status.textContent = 'The caricature stopped: ' + (e && e.message);
        ctx.report('try_it: ' + (e && e.message), e);
      },
    };

    buttons.Start.addEventListener('click', function () {
      var photo = photos[sel.p], layer = layers[sel.l], px = Number(size.select.value), n = Number(steps.select.value);
      if (runner) runner.dispose();
      runner = null;
      state('loading');
      status.textContent = 'Loading TensorFlow.js and the weights up to ' + layer.label + '…';
      var mine = {};
      buttons.Start.run = mine;
      T.open(layer).then(function (model) {
        return pixels(photo, px).then(function (rgb) { return [model, rgb]; });
      }).then(function (r) {
        if (buttons.Start.run !== mine) return null;
        T.paint(photoCanvas, r[1], px);
        photoCanvas.hidden = false;
        tile.hidden = true;
        var session = new T.Session({ model: r[0], photo: r[1], size: px, layer: layer.key, seed: d.seed || 0, lr: d.lr || 0.05 });
        runner = new T.Runner(session, view);
        name = (photo.key === YOURS ? own.name : photo.key) + '-' + layer.key + '-' + px + 'px';
        root.setAttribute('data-backend', window.tf.getBackend());
        backend = window.tf.getBackend() === 'webgl' ? 'WebGL (your graphics card)' : 'the CPU (slower)';
        return runner.run(n);
      }).catch(view.fail);
    });
    buttons.Stop.addEventListener('click', function () {
      if (runner) runner.stop();
      else { buttons.Start.run = null; state('idle'); status.textContent = 'Stopped.'; }
    });
    buttons.Continue.addEventListener('click', function () { if (runner) runner.run(Number(steps.select.value)); });
    buttons['Download PNG'].addEventListener('click', function () {
      car.toBlob(function (blob) {
        var a = h('a', { href: URL.createObjectURL(blob), download: 'caricature-' + name + '-' + runner.session.step + 'steps.png' });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(a.href); }, 10000);
      }, 'image/png');
    });
    size.select.addEventListener('change', describe);
    root.addEventListener('dragover', function (e) { e.preventDefault(); root.classList.add('is-dropping'); });
    root.addEventListener('dragleave', function () { root.classList.remove('is-dropping'); });
    root.addEventListener('drop', function (e) {
      e.preventDefault();
      root.classList.remove('is-dropping');
      usePhoto(e.dataTransfer && e.dataTransfer.files[0]);
    });
    whenNear(root, function () {
      ctx.sprites.load(ctx.sprites.sheetsOfGroups(null));
      photos.forEach(function (p, i) { if (p.photo) photoChoice.setThumb(i, p.photo, 'photos[' + i + '].photo'); });
      if (photos[sel.p].key !== YOURS) pickPhoto(sel.p);
    });
    describe();
    state('idle');
    T.runner = function () { return runner; };
  };
})();
