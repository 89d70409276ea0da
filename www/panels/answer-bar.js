// @ts-check
// The answer in a bar at the bottom of the screen, while the answer itself is out of view
// (on a phone it lies below the image): it points the way to it, and it steps aside from
// whatever the person is using (a focused control, a tapped channel) rather than cover it.

/** Sets the bar's answer (`model`: the model's top class; `taught`: the taught classes'
 *  top answer, or "" for none); an undefined field keeps what it was.
 *  @param {HTMLElement} bar  @param {{model?: string, taught?: string}} answer */
export function setAnswer(bar, { model, taught }) {
  if (model !== undefined) bar.dataset.answer = model;
  if (taught !== undefined) bar.dataset.taught = taught;
}

/** Shows the bar or hides it: shown with an answer that is out of view (`answerInView`
 *  false), pointing up or down to the answer (`answer`, its element), and hidden while it
 *  would overlap `using` (the element the person focused or touched last).
 *  @param {HTMLElement} bar  @param {HTMLElement} answer  @param {{answerInView: boolean, using: Element | null}} where */
export function placeAnswerBar(bar, answer, { answerInView, using }) {
  const text = bar.dataset.answer;
  if (!text || answerInView) {
    bar.hidden = true;
    return;
  }
  const above = answer.getBoundingClientRect().bottom < 0;
  const taught = bar.dataset.taught ? ` · yours: ${bar.dataset.taught}` : "";
  bar.textContent = `${text}${taught} · the answer ${above ? "↑" : "↓"}`;
  bar.hidden = false;
  if (!using?.isConnected || using === bar || using === document.body) return;
  const b = bar.getBoundingClientRect();
  const u = using.getBoundingClientRect();
  bar.hidden = u.bottom > b.top && u.top < b.bottom && u.right > b.left && u.left < b.right;
}
