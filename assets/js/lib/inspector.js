/* Inspector: a large photo beside a large caricature, with a caption line and a metrics line. */
(function () {
  'use strict';
  var lib = window.Caricatures.lib;

  function panel(caption) {
    var tile = lib.h('div', { class: 'cv-tile cv-big', role: 'img' });
    var cap = lib.h('div', { class: 'cv-cap', text: caption || '' });
    return { root: lib.h('div', { class: 'cv-panel' }, [tile, cap]), tile: tile, cap: cap };
  }

  /**
   * Build an inspector with `sprites` (lib.Sprites); opts.photo false drops the photo panel.
   * Returns {root, photo, car, title, metrics, show(s)} where s = {photo, photoAlt, car, carAlt, carCap,
   * photoCap, title, metrics: [strings]}; photo/car are tile keys (null shows an empty box).
   */
  lib.inspector = function (sprites, opts) {
    opts = opts || {};
    var photo = opts.photo === false ? null : panel('photo');
    var car = panel('caricature');
    var title = lib.h('div', { class: 'cv-title' });
    var metrics = lib.h('div', { class: 'cv-metrics' });
    var label = lib.h('div', { class: 'cv-label', 'aria-live': 'polite' }, [title, metrics]);
    var pair = lib.h('div', { class: 'cv-pair' }, [photo && photo.root, car.root]);
    var root = lib.h('div', { class: 'cv-inspector' }, [pair, label]);
    return {
      root: root, pair: pair, photo: photo, car: car, title: title, metrics: metrics,
      show: function (s) {
        if (photo) {
          sprites.paint(photo.tile, s.photo, s.photoWhere);
          photo.tile.setAttribute('aria-label', s.photoAlt || 'photo');
          photo.cap.textContent = s.photoCap || 'photo';
        }
        sprites.paint(car.tile, s.car, s.carWhere);
        car.tile.classList.toggle('cv-empty', !s.car);
        car.tile.setAttribute('aria-label', s.carAlt || 'caricature');
        car.cap.textContent = s.carCap || 'caricature';
        title.textContent = s.title || '';
        metrics.textContent = (s.metrics || []).join(' · ');
      },
    };
  };
})();
