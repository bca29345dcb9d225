/* compare view: one photo and layer under several models or settings, switched by a segmented control. */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.compare = function mount(el, index, ctx) {
    var d = index.data || {};
    var options = lib.list(d, 'options', 'compare');
    var photos = lib.list(d, 'photos', 'compare');
    var layers = lib.list(d, 'layers', 'compare');
    var cells = d.cells || {};
    var defs = d.metric_defs || [];
    var sprites = ctx.sprites;
    var init = d.initial || {};
    var cell = function (s) {
      return ((cells[photos[s.p].key] || {})[layers[s.l].key] || {})[options[s.o].key] || null;
    };
    var where = function (s) {
      return 'cells.' + photos[s.p].key + '.' + layers[s.l].key + '.' + options[s.o].key + '.tile';
    };

    photos.forEach(function (photo, p) {
      if (photo.photo) sprites.need(photo.photo, 'photos[' + p + '].photo');
      layers.forEach(function (layer, l) {
        options.forEach(function (option, o) {
          var s = { p: p, l: l, o: o };
          if (cell(s)) sprites.need(cell(s).tile, where(s));
        });
      });
    });
    sprites.load(sprites.sheetsOfGroups(null));

    var selected = { p: lib.indexOf(photos, init.photo), l: lib.indexOf(layers, init.layer),
      o: lib.indexOf(options, init.option) };
    var shown = Object.assign({}, selected);

    function change(field, i, pin) {
      shown = Object.assign({}, pin ? selected : shown);
      shown[field] = i;
      if (pin) selected = Object.assign({}, shown);
      render();
    }
    function control(field, items, label, thumbs) {
      return lib.choice({ label: label, items: items, selected: selected[field], thumbs: thumbs, sprites: sprites,
        caption: true,
        onShow: function (i) { change(field, i, false); },
        onSelect: function (i) { change(field, i, true); } });
    }
    var optionChoice = control('o', options, d.option_label || 'Setting', true);
    var photoChoice = photos.length > 1 ? control('p', photos, d.photo_label || 'Photo', true) : null;
    var layerChoice = layers.length > 1 ? control('l', layers, d.layer_label || 'Layer', false) : null;
    if (photoChoice) {
      photos.forEach(function (photo, p) { photoChoice.setThumb(p, photo.photo, 'photos[' + p + '].photo'); });
    }
    var inspector = lib.inspector(sprites);
    var controls = lib.h('div', { class: 'cv-controls' },
      [photoChoice && photoChoice.root, layerChoice && layerChoice.root, optionChoice.root]);
    var root = lib.h('div', { class: 'cv cv-compare' }, [inspector.root, controls]);
    el.appendChild(root);

    function render() {
      var s = shown, info = cell(s), photo = photos[s.p], layer = layers[s.l], option = options[s.o];
      var photoLabel = photo.label || photo.key;
      var layerLabel = (info && info.label) || layer.label || layer.key;
      var optionLabel = option.label || option.key;
      inspector.show({
        photo: photo.photo, photoAlt: 'photo: ' + photoLabel, photoWhere: 'photos[' + s.p + '].photo',
        car: info && info.tile, carWhere: where(s), carCap: optionLabel,
        carAlt: 'caricature of ' + photoLabel + ' at ' + layerLabel + ', ' + optionLabel,
        title: photoLabel + ' · ' + layerLabel + ' · ' + optionLabel,
        metrics: info ? lib.metricParts(info.metrics, defs) : ['not available for this ' +
          (d.option_label || 'setting').toLowerCase()],
      });
      options.forEach(function (option, o) {
        var t = { p: s.p, l: s.l, o: o }, c = cell(t);
        optionChoice.setThumb(o, c && c.tile, where(t));
        optionChoice.setDisabled(o, !c);
      });
      optionChoice.mark(selected.o, s.o);
      if (photoChoice) photoChoice.mark(selected.p, s.p);
      if (layerChoice) layerChoice.mark(selected.l, s.l);
    }
    root.addEventListener('mouseleave', function () { shown = Object.assign({}, selected); render(); });
    render();
  };
})();
