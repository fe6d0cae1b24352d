// Gradio redraws the page as events come: what must follow its redraws (formulas to
// typeset, labels to translate, the notes' map to draw) runs at most once a frame after
// any change. One helper for app.js and map.js (loaded after it).
window.onPageChange = (run, options = {}) => {
  let queued = false;
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      run();
    });
  }).observe(document.documentElement, {childList: true, subtree: true, ...options});
};

// Citations live in the Chatbot, cards in the sources panel: a document-level listener
// connects them without a round trip to the server (app.py puts this in the page head).
(() => {
  const show = (key) => {
    let shown = null;
    // Only the chat's panel: the study tab draws its passage as a source card too.
    document.querySelectorAll('#sources .source-card').forEach((card) => {
      card.hidden = card.dataset.key !== key;
      if (!card.hidden) shown = card;
    });
    if (shown) shown.scrollIntoView({block: 'nearest', behavior: 'smooth'});
  };
  const handle = (event) => {
    const link = event.target.closest && event.target.closest('.cite, .cite-source');
    const token = link && [...link.classList].find((name) => name.startsWith('src-'));
    if (!token) return;
    if (event.type === 'keydown' && event.key !== 'Enter' && event.key !== ' ') return;
    event.preventDefault();
    event.stopPropagation();
    show(token.slice(4));
  };
  document.addEventListener('click', handle, true);
  document.addEventListener('keydown', handle, true);
})();

// The study tab: keys 1-4 press its rating buttons (Otra vez, Difícil, Bien, Fácil), but
// only while they are on screen (the Estudiar tab open, the answer shown) and never while
// the student types: a "3" in the answer box is a 3.
(() => {
  const NOT_TYPING = new Set(['button', 'checkbox', 'radio', 'range', 'reset', 'submit']);
  const typing = (element) => {
    if (!element) return false;
    if (element.isContentEditable) return true;
    const tag = element.tagName;
    if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
    return tag === 'INPUT' && !NOT_TYPING.has((element.type || 'text').toLowerCase());
  };
  document.addEventListener('keydown', (event) => {
    if (!['1', '2', '3', '4'].includes(event.key)) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event.target) || typing(document.activeElement)) return;
    const button = document.getElementById(`study-rate-${event.key}`);
    // offsetParent is null when the button or a parent is hidden (another tab, no answer).
    if (!button || button.disabled || button.offsetParent === null) return;
    event.preventDefault();
    button.click();
  });
})();

// The note preview: a [[link]] opens its note there (the server draws it), then scrolls to
// the linked section; a link to the note already shown only scrolls.
(() => {
  let pending = null; // the section to scroll to once the preview shows the note
  const scrollTo = (section) => {
    if (!section) return true;
    const want = section.trim().toLowerCase();
    const heading = [...document.querySelectorAll('#note-preview h1, #note-preview h2, #note-preview h3, #note-preview h4, #note-preview h5, #note-preview h6')]
      .find((h) => h.textContent.trim().toLowerCase() === want);
    if (heading) heading.scrollIntoView({block: 'start', behavior: 'smooth'});
    return Boolean(heading);
  };
  new MutationObserver(() => {
    if (pending && scrollTo(pending)) pending = null;
  }).observe(document.documentElement, {childList: true, subtree: true});
  const open = (note, section) => {
    const shown = document.querySelector('#note-preview .note-preview');
    if (shown && shown.dataset.note === note) {
      scrollTo(section);
      return;
    }
    pending = section || null;
    const box = document.querySelector('#wikilink-target textarea, #wikilink-target input');
    if (!box) return;
    // A change event carries it to the server; emptied first, so that the same note
    // linked again (after the picker moved on) is still a change.
    const write = (value) => {
      box.value = value;
      box.dispatchEvent(new Event('input', {bubbles: true}));
    };
    write('');
    setTimeout(() => write(note), 100);
  };
  // A link in the chat's sources (or anywhere else) opens the Notas tab first.
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.wikilink');
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
    const {note, section} = link.dataset;
    if (link.closest('#note-preview')) {
      open(note, section);
      return;
    }
    const tab = [...document.querySelectorAll('button[role="tab"]')]
      .find((button) => button.textContent.trim() === 'Notas');
    if (tab) tab.click();
    setTimeout(() => open(note, section), 400);
  }, true);
})();

// Formulas: the renderers (assistant/web/markdown_html.py) write each one's TeX as the text
// of a <span class="math inline"> or <span class="math display">; KaTeX (static/katex/,
// put in the head before this file) typesets them here, wherever Gradio draws them (chat,
// sources, note preview, study cards). Output MathML only: the browser draws it itself,
// so KaTeX's CSS and fonts are not needed. A bad formula is shown as its TeX in red
// (throwOnError: false), never an error.
(() => {
  const SELECTOR = '.math.inline:not([data-typeset]), .math.display:not([data-typeset])';
  const typeset = () => {
    if (!window.katex) return;
    document.querySelectorAll(SELECTOR).forEach((element) => {
      const tex = element.textContent;
      element.dataset.typeset = '';
      element.title = tex;
      window.katex.render(tex, element, {
        displayMode: element.classList.contains('display'),
        output: 'mathml',
        throwOnError: false,
        trust: false,
      });
    });
  };
  window.onPageChange(typeset, {characterData: true});
})();

// Gradio words its own buttons and labels in the browser's language and takes no
// server-side choice of language, so in an English browser the page mixed "Copy table
// data" or "Fullscreen" into a Spanish app. Its words on screen (tooltips, screen-reader
// labels) are put in Spanish here; the drop zones' visible text is app.css's.
(() => {
  const SPANISH = {
    'Click to upload or drop files': 'Haz clic o arrastra archivos para subirlos',
    'File upload': 'Subir archivo',
    'Copy table data': 'Copiar la tabla',
    'Fullscreen': 'Pantalla completa',
    'Exit fullscreen mode': 'Salir de pantalla completa',
    'Download All': 'Descargar todo',
    'Download': 'Descargar',
    'More tabs': 'Más pestañas',
    'Open cell menu': 'Menú de la celda',
    'Table actions': 'Acciones de la tabla',
    'Reset to default value': 'Volver al valor por defecto',
    'chatbot conversation': 'conversación',
    'Copy': 'Copiar',
    'Copy message': 'Copiar el mensaje',
    'Copy conversation': 'Copiar la conversación',
    'Clear': 'Borrar',
    'Share': 'Compartir',
  };
  const SHAPED = [
    [/^Thumbnail (\d+) of (\d+)$/, 'Miniatura $1 de $2'],
    [/^number input for (.+)$/, 'número: $1'],
    [/^range slider for (.+)$/, 'deslizador: $1'],
  ];
  const spanish = (text) => {
    if (SPANISH[text]) return SPANISH[text];
    for (const [shape, words] of SHAPED) if (shape.test(text)) return text.replace(shape, words);
    return null;
  };
  const translate = () => {
    document.querySelectorAll('[aria-label], [title]').forEach((element) => {
      for (const name of ['aria-label', 'title']) {
        const text = element.getAttribute(name);
        const said = text && spanish(text);
        if (said) element.setAttribute(name, said);
      }
    });
  };
  window.onPageChange(translate, {attributes: true, attributeFilter: ['aria-label', 'title']});
})();
