/* Mount every [data-figure] on the page: parse its inline index JSON and run its view (or figure script). */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  // One visible box per figure lists its data errors; the console gets one error per figure.
  function errorSink(figure, id) {
    var box = null, logged = false, seen = {};
    return function report(message, error) {
      if (seen[message]) return;
      seen[message] = true;
      if (!box) {
        box = lib.h('div', { class: 'cv-error', role: 'alert' },
          [lib.h('strong', { text: 'Figure “' + id + '” could not be shown fully:' }), lib.h('ul')]);
        var mount = figure.querySelector('.figure-mount') || figure;
        mount.insertBefore(box, mount.firstChild);
      }
      box.querySelector('ul').appendChild(lib.h('li', { text: message }));
      if (!logged) {
        logged = true;
        if (error) console.error('[caricatures] figure "' + id + '": ' + message, error);
        else console.error('[caricatures] figure "' + id + '": ' + message);
      }
    };
  }

  // Sprite sheets load as their figure approaches the viewport: a figure within NEAR px of it when mounted
  // is drawn with its sheets at once (the first screen renders as before); the others keep their sheets
  // closed until an IntersectionObserver with that margin sees them coming (or the page is printed).
  var NEAR = 1000;
  var closed = [];
  var observer = window.IntersectionObserver ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) { if (entry.isIntersecting) openFigure(entry.target); });
  }, { rootMargin: NEAR + 'px 0px' }) : null;

  function near(figure) {
    var r = figure.getBoundingClientRect();
    var h = window.innerHeight || document.documentElement.clientHeight;
    return r.bottom > -NEAR && r.top < h + NEAR;
  }

  function openFigure(figure) {
    if (observer) observer.unobserve(figure);
    closed = closed.filter(function (f) { return f !== figure; });
    if (figure.cvSprites) figure.cvSprites.open();
    figure.setAttribute('data-sheets', 'open');
  }

  /** Open every figure's sheets now (printing, or a caller that needs the whole page drawn). */
  function openAll() { closed.slice().forEach(openFigure); }

  /** Mount one figure element; never throws (errors are shown inside the figure). */
  function mountFigure(figure) {
    if (figure.getAttribute('data-mounted')) return;
    figure.setAttribute('data-mounted', 'pending');
    var id = figure.getAttribute('data-figure') || '?';
    var report = errorSink(figure, id);
    var mount = figure.querySelector('.figure-mount');
    try {
      if (!mount) throw new lib.DataError('the figure has no .figure-mount element');
      var script = figure.querySelector('script.figure-data');
      if (!script) throw new lib.DataError('the figure has no <script class="figure-data"> with its index');
      var index;
      try {
        index = JSON.parse(script.textContent);
      } catch (e) {
        throw new lib.DataError('its index JSON does not parse: ' + e.message);
      }
      var viewName = figure.getAttribute('data-view') || index.view;
      var mountFn = C.figures[id] || C.views[viewName];
      if (!mountFn) throw new lib.DataError('no view named "' + viewName + '" (assets/js/views/' + viewName + '.js)');
      var lazy = !!observer && !near(figure);
      var sprites = new lib.Sprites(index, report, { closed: lazy });
      figure.cvSprites = sprites;
      figure.setAttribute('data-sheets', lazy ? 'waiting' : 'open');
      var ctx = { id: id, figure: figure, report: report, sprites: sprites, view: viewName };
      mountFn(mount, index, ctx);
      figure.setAttribute('data-mounted', 'ok');
      if (lazy) {
        closed.push(figure);
        observer.observe(figure);
      }
    } catch (err) {
      figure.setAttribute('data-mounted', 'error');
      if (mount) {   // drop a half-built view; keep the error box
        Array.prototype.slice.call(mount.children).forEach(function (child) {
          if (!child.classList.contains('cv-error')) mount.removeChild(child);
        });
      }
      if (err instanceof lib.DataError) report(err.message);
      else report('the view failed: ' + (err && err.message), err);
    }
  }

  /** Mount all figures of the document. */
  function mountAll() {
    Array.prototype.forEach.call(document.querySelectorAll('[data-figure]'), mountFigure);
  }

  C.mountFigure = mountFigure;
  C.mountAll = mountAll;
  C.openAll = openAll;
  window.addEventListener('beforeprint', openAll);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', mountAll);
  else mountAll();
})();
