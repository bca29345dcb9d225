/* strip view: a row of labelled tiles (optimization steps, a cascade) with a highlighted item and a slider. */
(function () {
  'use strict';
  var C = window.Caricatures;
  var lib = C.lib;

  C.views.strip = function mount(el, index, ctx) {
    var d = index.data || {};
    var items = lib.list(d, 'items', 'strip');
    var defs = d.metric_defs || [];
    var ref = d.reference || null;
    var sprites = ctx.sprites;
    var withInspector = d.inspector !== false;
    items.forEach(function (item, i) { sprites.need(item.tile, 'items[' + i + '].tile'); });
    if (ref) sprites.need(ref.tile, 'reference.tile');
    sprites.load(sprites.sheetsOfGroups(null));

    var selected = Math.max(0, lib.indexOf(items, d.initial, items.length - 1));
    var shown = selected;
    var row = lib.h('div', { class: 'cv-strip-row', role: 'listbox', 'aria-orientation': 'horizontal',
      'aria-label': d.label || 'Tiles in order' });
    if (ref && !withInspector) {
      var refTile = lib.h('div', { class: 'cv-tile cv-thumb' });
      sprites.paint(refTile, ref.tile, 'reference.tile');
      row.appendChild(lib.h('div', { class: 'cv-strip-item cv-reference' },
        [refTile, lib.h('span', { class: 'cv-item-label', text: ref.label || 'reference' })]));
    }
    var nodes = items.map(function (item, i) {
      var tile = lib.h('div', { class: 'cv-tile cv-thumb' });
      sprites.paint(tile, item.tile, 'items[' + i + '].tile');
      var node = lib.h('div', { class: 'cv-strip-item', role: 'option', 'aria-selected': 'false',
        'data-key': item.key }, [tile, lib.h('span', { class: 'cv-item-label', text: item.label || item.key })]);
      row.appendChild(node);
      return node;
    });
    var inspector = withInspector ? lib.inspector(sprites, { photo: !!ref }) : null;
    var slider = null, sliderBox = null;
    if (d.slider) {
      var sliderId = lib.uid('cv-slider');
      slider = lib.h('input', { type: 'range', id: sliderId, min: 0, max: items.length - 1, step: 1,
        value: selected, class: 'cv-slider' });
      sliderBox = lib.h('div', { class: 'cv-field cv-slider-box' },
        [lib.h('label', { class: 'cv-field-label', for: sliderId, text: d.slider_label || 'Step' }), slider]);
      slider.addEventListener('input', function () { select(Number(slider.value), true); });
    }
    var root = lib.h('div', { class: 'cv cv-strip' },
      [inspector && inspector.root, sliderBox, lib.h('div', { class: 'cv-scroll' }, [row])]);
    el.appendChild(root);

    function render() {
      var item = items[shown];
      nodes.forEach(function (node, i) {
        node.classList.toggle('is-shown', i === shown);
        node.classList.toggle('is-selected', i === selected);
        node.setAttribute('aria-selected', i === selected ? 'true' : 'false');
      });
      if (inspector) {
        inspector.show({
          photo: ref && ref.tile, photoCap: ref && (ref.label || 'reference'), photoAlt: ref && ref.label,
          photoWhere: 'reference.tile', car: item.tile, carWhere: 'items[' + shown + '].tile',
          carCap: item.label || item.key, carAlt: item.label || item.key,
          title: item.title || item.label || item.key, metrics: lib.metricParts(item.metrics, defs),
        });
      }
      if (slider) {
        slider.value = String(selected);
        slider.setAttribute('aria-valuetext', items[selected].label || items[selected].key);
      }
    }
    function show(i) { shown = i; render(); }
    function select(i, fromSlider) {
      selected = i;
      rover.setCurrent(i);
      show(i);
      if (fromSlider) reveal(i);
    }
    // Scroll only the strip's own box (never the page) so that item i is visible.
    function reveal(i) {
      var box = row.parentNode, node = nodes[i];
      if (node.offsetLeft < box.scrollLeft || node.offsetLeft + node.offsetWidth > box.scrollLeft + box.clientWidth) {
        box.scrollLeft = node.offsetLeft - (box.clientWidth - node.offsetWidth) / 2;
      }
    }
    var rover = lib.roving(nodes.map(function (node) { return { node: node }; }), {
      mode: 'linear', initial: selected,
      onFocus: function (i) { select(i); },
      onSelect: function (i) { select(i); },
    });
    nodes.forEach(function (node, i) {
      lib.onHover(node, function () { show(i); });
      node.addEventListener('click', function () { select(i); });
    });
    root.addEventListener('mouseleave', function () { show(selected); });
    render();
    reveal(selected);
  };
})();
