/* compare view: one photo and layer under several models or settings. By default a segmented control switches
   the option shown in a large inspector; with data.arrange "row" every option is shown side by side, each
   tile with its label and metrics, beside the photo, and an optional matrix (data.matrix) follows the layer. */
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
    var row = d.arrange === 'row';
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
    var root, inspector = null, cards = null, matrix = null;
    if (row) {
      cards = rowOfCards(optionChoice, options);
      matrix = d.matrix ? matrixTable(d.matrix, options, layers) : null;
      root = lib.h('div', { class: 'cv cv-compare cv-compare-row' }, [
        lib.h('div', { class: 'cv-controls' }, [photoChoice && photoChoice.root, layerChoice && layerChoice.root]),
        cards.title, optionChoice.root, matrix && matrix.root]);
    } else {
      inspector = lib.inspector(sprites);
      var controls = lib.h('div', { class: 'cv-controls' },
        [photoChoice && photoChoice.root, layerChoice && layerChoice.root, optionChoice.root]);
      root = lib.h('div', { class: 'cv cv-compare' }, [inspector.root, controls]);
    }
    el.appendChild(root);

    // Row: the photo leads the option buttons; each button shows its tile, its label, the cell's own label
    // (e.g. the model's layer) and its metrics, one per line.
    function rowOfCards(choice) {
      var group = choice.root.querySelector('[role=radiogroup]');
      group.classList.add('cv-cards');
      group.style.setProperty('--cv-cards', String(choice.buttons.length + 1));
      var photoTile = lib.h('div', { class: 'cv-tile', role: 'img' });
      var photoCap = lib.h('span', { class: 'cv-option-label' });
      var photoCard = lib.h('div', { class: 'cv-card cv-card-photo' }, [photoTile, photoCap,
        lib.h('span', { class: 'cv-card-sub', text: 'photo' })]);
      group.insertBefore(photoCard, group.firstChild);
      var subs = [], lines = [];
      choice.buttons.forEach(function (button) {
        button.classList.add('cv-card');
        var sub = lib.h('span', { class: 'cv-card-sub' });
        var metrics = lib.h('span', { class: 'cv-card-metrics' });
        button.appendChild(sub);
        button.appendChild(metrics);
        subs.push(sub);
        lines.push(metrics);
      });
      return { title: lib.h('div', { class: 'cv-title', 'aria-live': 'polite' }), photoTile: photoTile,
        photoCap: photoCap, subs: subs, lines: lines };
    }

    function renderRow(s) {
      var photo = photos[s.p], layer = layers[s.l], photoLabel = photo.label || photo.key;
      cards.title.textContent = photoLabel + ' · ' + (layer.label || layer.key);
      sprites.paint(cards.photoTile, photo.photo, 'photos[' + s.p + '].photo');
      cards.photoTile.setAttribute('aria-label', 'photo: ' + photoLabel);
      cards.photoCap.textContent = photoLabel;
      var own = options.map(function (option, o) { return (cell({ p: s.p, l: s.l, o: o }) || {}).label || ''; });
      var shared = own.every(function (label) { return label === own[0]; });   // said once, by the title
      if (shared && own[0]) cards.title.textContent += ' · ' + own[0];
      options.forEach(function (option, o) {
        var c = cell({ p: s.p, l: s.l, o: o });
        cards.subs[o].textContent = c ? (shared ? '' : c.label || '') : 'not available';
        cards.subs[o].hidden = !!c && shared;
        var parts = c ? lib.metricParts(c.metrics, defs) : [];
        cards.lines[o].textContent = '';
        parts.forEach(function (part) { cards.lines[o].appendChild(lib.h('span', { text: part })); });
        optionChoice.buttons[o].setAttribute('aria-label', (option.label || option.key) +
          (c ? ': ' + [c.label].concat(parts).filter(Boolean).join(', ') : ', not available'));
      });
      if (matrix) matrix.show(s.l, s.o);
    }

    function render() {
      var s = shown, info = cell(s), photo = photos[s.p], layer = layers[s.l], option = options[s.o];
      var photoLabel = photo.label || photo.key;
      var layerLabel = (info && info.label) || layer.label || layer.key;
      var optionLabel = option.label || option.key;
      if (row) renderRow(s);
      else {
        inspector.show({
          photo: photo.photo, photoAlt: 'photo: ' + photoLabel, photoWhere: 'photos[' + s.p + '].photo',
          car: info && info.tile, carWhere: where(s), carCap: optionLabel,
          carAlt: 'caricature of ' + photoLabel + ' at ' + layerLabel + ', ' + optionLabel,
          title: photoLabel + ' · ' + layerLabel + ' · ' + optionLabel,
          metrics: info ? lib.metricParts(info.metrics, defs) : ['not available for this ' +
            (d.option_label || 'setting').toLowerCase()],
        });
      }
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

  /**
   * A table of one number per pair of options (rows: `m.row_label`, columns: `m.col_label`) for the shown
   * layer: m.values[layerKey][row][col], formatted with m.format; m.groups [{label, values: {layerKey: v}}]
   * add a line of averages below. The shown option's row is marked.
   */
  function matrixTable(m, options, layers) {
    var table = lib.h('table', { class: 'cv-matrix', 'aria-label': m.label || null });
    var corner = lib.h('th', { scope: 'col', class: 'cv-matrix-corner' }, [(m.row_label || '') + ' ↓',
      lib.h('br'), (m.col_label || '') + ' →']);
    var head = lib.h('tr', {}, [corner].concat(options.map(function (o) {
      return lib.h('th', { scope: 'col', text: o.short || o.label || o.key });
    })));
    var body = lib.h('tbody');
    var rows = options.map(function (o) {
      var tds = options.map(function (other, j) { return lib.h('td', { class: other === o ? 'cv-diagonal' : null }); });
      var tr = lib.h('tr', {}, [lib.h('th', { scope: 'row', text: o.short || o.label || o.key })].concat(tds));
      body.appendChild(tr);
      return { tr: tr, tds: tds };
    });
    table.appendChild(lib.h('thead', {}, [head]));
    table.appendChild(body);
    var groups = lib.h('p', { class: 'cv-matrix-groups' });
    var root = lib.h('div', { class: 'cv-matrix-box' }, [lib.h('p', { class: 'cv-matrix-label', text: m.label || '' }),
      lib.h('div', { class: 'cv-scroll cv-matrix-scroll' }, [table]), groups]);
    return {
      root: root,
      show: function (l, o) {
        var values = (m.values || {})[layers[l].key] || [];
        rows.forEach(function (r, i) {
          r.tr.classList.toggle('is-shown', i === o);
          r.tds.forEach(function (td, j) { td.textContent = lib.fmt((values[i] || [])[j], m.format || '.2f'); });
        });
        groups.textContent = (m.groups || []).map(function (g) {
          return g.label + ' ' + lib.fmt((g.values || {})[layers[l].key], m.format || '.2f');
        }).join(' · ');
        groups.hidden = !(m.groups || []).length;
      },
    };
  }
})();
