// The Mapa tab: the notes' map that assistant/web/notes_map.py hands over as JSON (the
// data-graph of a .notes-map element) is drawn here with vis-network (static/vis/, put in
// the head before this file), once the element is on screen (a hidden tab has no size to
// lay it out in). A click on a node, or on a chip of the panel beside it, writes the
// node's id to the hidden #map-target box, whose change the server answers with the
// node's panel; "Preguntar" then opens the Chat tab, where the server put the question.
(() => {
  // The map's own styles: vis-network's CSS is not loaded (only its tooltip needs any).
  const STYLE = `
    .notes-map { position: relative; }
    .notes-map .map-canvas { height: 720px; border: 1px solid var(--border-color-primary);
      border-radius: 8px; background: var(--background-fill-secondary); }
    .notes-map .map-legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 0.85em;
      margin-bottom: 6px; color: var(--body-text-color-subdued); }
    .notes-map .map-key { white-space: nowrap; }
    .notes-map .map-help { margin-left: auto; }
    .map-key::before { content: ""; display: inline-block; width: 11px; height: 11px;
      margin-right: 5px; border-radius: 3px; vertical-align: -1px; }
    .map-key.note::before { background: #1e3a8a; }
    .map-key.section::before { background: #dbe7ff; border: 1px solid #5b84cc; }
    .map-key.term::before { background: #fff1c2; border: 1px solid #d4a106; border-radius: 50%; }
    .notes-map:not(:hover) div.vis-tooltip { display: none; } /* the pointer left the map */
    div.vis-tooltip { position: absolute; visibility: hidden; padding: 4px 8px;
      white-space: nowrap; font-size: 13px; color: #222; background: #fffdf3;
      border: 1px solid #c9c29a; border-radius: 4px; box-shadow: 2px 2px 6px rgba(0,0,0,.15);
      pointer-events: none; z-index: 5; }
    .map-detail .map-title { font-size: 1.15em; font-weight: 600; margin-bottom: 2px; }
    .map-detail .map-where { color: var(--body-text-color-subdued); font-size: 0.85em;
      margin-bottom: 8px; }
    .map-detail .map-passage .passage { max-height: 300px; }
    .map-subtitle { font-weight: 600; font-size: 0.9em; margin: 10px 0 4px; }
    #map-detail .map-chip { display: inline-block; margin: 0 6px 6px 0; padding: 2px 10px;
      border-radius: 999px; font-size: 0.85em; cursor: pointer;
      border: 1px solid #5b84cc; background: #eef3ff; color: #1e3a8a; font-weight: 500;
      line-height: 1.5; }
    #map-detail .map-chip:hover { filter: brightness(0.95); }
    #map-detail .map-chip.term { border-color: #d4a106; background: #fff7d6; color: #6b5200; }
    #map-detail .map-chip.note { border-color: #1e3a8a; background: #1e3a8a; color: #fff; }
    .map-card { border: 1px solid var(--border-color-primary); border-radius: 6px;
      padding: 6px 10px; margin-bottom: 6px; }
    .map-card summary { cursor: pointer; }
    .map-card-kind { color: var(--body-text-color-subdued); font-size: 0.8em; margin-right: 4px; }
    .map-card-back { margin-top: 6px; padding-left: 8px; border-left: 3px solid #4a7bb7;
      white-space: pre-wrap; }
    .map-empty { padding: 24px; color: var(--body-text-color-subdued); }`;
  const style = document.createElement('style');
  style.textContent = STYLE;
  document.head.appendChild(style);

  const FONT = 'system-ui, sans-serif';
  const GROUPS = {
    note: {
      // Large: a note's title stays legible with the whole map in view.
      shape: 'box', margin: 16, font: {face: FONT, size: 40, color: '#ffffff'},
      color: {background: '#1e3a8a', border: '#1e3a8a',
        highlight: {background: '#2f54b8', border: '#f59e0b'},
        hover: {background: '#2f54b8', border: '#1e3a8a'}},
      borderWidthSelected: 3, widthConstraint: {maximum: 460}, mass: 2, // room around it
      shapeProperties: {borderRadius: 10},
    },
    section: {
      shape: 'box', margin: 7, font: {face: FONT, size: 14, color: '#1b2a4a'},
      color: {background: '#dbe7ff', border: '#5b84cc',
        highlight: {background: '#fff', border: '#f59e0b'},
        hover: {background: '#eef3ff', border: '#2f54b8'}},
      shapeProperties: {borderRadius: 6}, borderWidthSelected: 3,
      widthConstraint: {maximum: 190},
      // Far out, a section is a tile; its title shows as the map is zoomed in.
      scaling: {label: {drawThreshold: 7}},
    },
    term: {
      shape: 'ellipse', margin: 5, font: {face: FONT, size: 14, color: '#5a4300'},
      color: {background: '#fff1c2', border: '#d4a106',
        highlight: {background: '#ffe27a', border: '#b45309'},
        hover: {background: '#ffe9a0', border: '#b45309'}},
      borderWidthSelected: 3,
      // Its value is how many sections share it: the more, the larger its name.
      scaling: {min: 10, max: 30, label: {enabled: true, min: 15, max: 38, drawThreshold: 7}},
    },
  };
  // The tree's edges short and firm, the shared terms' long and faint: the tree reads
  // first, the terms pull related sections together.
  const EDGES = {
    contains: {color: {color: '#5b84cc', highlight: '#f59e0b', hover: '#2f54b8', opacity: 0.8},
      width: 1.6, length: 110},
    mentions: {color: {color: '#d4a106', highlight: '#d97706', hover: '#b45309', opacity: 0.35},
      width: 1, dashes: [4, 4], length: 160},
  };
  const OPTIONS = {
    groups: GROUPS,
    layout: {randomSeed: 7, improvedLayout: false}, // the same map each time it is drawn
    physics: {
      solver: 'forceAtlas2Based',
      forceAtlas2Based: {gravitationalConstant: -70, centralGravity: 0.01, springConstant: 0.06,
        damping: 0.5, avoidOverlap: 0.6},
      stabilization: {iterations: 1000, updateInterval: 100},
      minVelocity: 1.5,
    },
    interaction: {hover: true, tooltipDelay: 200, keyboard: false, multiselect: false},
    edges: {smooth: {type: 'continuous'}, selectionWidth: 2},
  };

  const networkOf = () => {
    const element = document.querySelector('.notes-map[data-drawn]');
    return element && element.visNetwork;
  };
  // A change event carries the id to the server; emptied first, so that the same node
  // chosen again (after the panel was emptied) is still a change.
  const choose = (id) => {
    const box = document.querySelector('#map-target textarea, #map-target input');
    if (!box) return;
    const write = (value) => {
      box.value = value;
      box.dispatchEvent(new Event('input', {bubbles: true}));
    };
    write('');
    setTimeout(() => write(id), 100);
  };

  const drawn = new Set(); // the networks drawn, to free those whose element is gone
  const draw = (element) => {
    element.dataset.drawn = '';
    for (const old of [...drawn]) {
      if (old.element === element || !old.element.isConnected) {
        old.network.destroy();
        drawn.delete(old);
      }
    }
    const graph = JSON.parse(element.dataset.graph);
    // The font on each node too: vis-network 9.1.2 keeps the default size over a group's.
    // Drawn in this order: the terms under the sections, the notes over both.
    const LAYER = {term: 0, section: 1, note: 2};
    const order = (node) => LAYER[node.group] || 0;
    const nodes = new vis.DataSet(graph.nodes.sort((a, b) => order(a) - order(b)).map((node) => ({
      ...node, font: GROUPS[node.group] && GROUPS[node.group].font,
    })));
    const edges = new vis.DataSet(graph.edges.map((edge, i) => ({
      id: i, from: edge.from, to: edge.to, ...EDGES[edge.kind],
    })));
    const network = new vis.Network(element.querySelector('.map-canvas'), {nodes, edges}, OPTIONS);
    element.visNetwork = network;
    drawn.add({element, network});
    network.on('click', (params) => {
      if (params.nodes.length) choose(params.nodes[0]);
    });
    // Laid out once, then still: a map that keeps moving cannot be read (a dragged node
    // moves alone).
    network.once('stabilizationIterationsDone', () => {
      network.setOptions({physics: false});
      network.fit({animation: false});
      element.dataset.ready = '';
    });
  };

  const waiting = new WeakSet(); // elements in the page but not on screen yet
  const sized = new ResizeObserver((entries) => {
    for (const entry of entries) {
      if (entry.contentRect.width > 0) {
        sized.unobserve(entry.target);
        waiting.delete(entry.target);
        if (!('drawn' in entry.target.dataset)) draw(entry.target);
      }
    }
  });
  const look = () => {
    if (!window.vis) return;
    document.querySelectorAll('.notes-map[data-graph]:not([data-drawn])').forEach((element) => {
      if (element.clientWidth > 0) draw(element);
      else if (!waiting.has(element)) {
        waiting.add(element);
        sized.observe(element);
      }
    });
  };
  window.onPageChange(look);  // app.js

  document.addEventListener('click', (event) => {
    // A chip of the panel: its node chosen in the map too.
    const chip = event.target.closest && event.target.closest('.map-chip[data-node]');
    if (chip) {
      event.preventDefault();
      const network = networkOf();
      if (network) {
        network.selectNodes([chip.dataset.node]);
        network.focus(chip.dataset.node, {scale: 1.1, animation: {duration: 400}});
      }
      choose(chip.dataset.node);
      return;
    }
    // "Preguntar": the question goes to the Chat tab's box (the server writes it there).
    if (event.target.closest && event.target.closest('#map-ask')) {
      const tab = [...document.querySelectorAll('button[role="tab"]')]
        .find((button) => button.textContent.trim() === 'Chat');
      setTimeout(() => {
        if (tab) tab.click();
        const box = document.querySelector('#question textarea');
        if (box) box.focus();
      }, 300);
    }
  });
})();
