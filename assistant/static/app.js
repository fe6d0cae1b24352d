// Citations live in the Chatbot, cards in the sources panel: a document-level listener
// connects them without a round trip to the server (app.py puts this in the page head).
(() => {
  const show = (key) => {
    let shown = null;
    document.querySelectorAll('.source-card').forEach((card) => {
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
