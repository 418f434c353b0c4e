"""Keeps a plotly figure as wide as its box, in JupyterLab and Voila alike.

plotly's ``FigureWidget`` sizes itself once, when it first draws, and often before its output area
is in the page: it then falls back to 700 px, and it never follows the box afterwards (JupyterLab
resizes an output area without resizing the window when a side panel opens). plotly.js's own
``responsive`` option follows window resizes only. ``FitWidth`` is an invisible widget placed in the
figure's box: in the browser it watches the box (``ResizeObserver``) and the figure appearing in it
(``MutationObserver``), and whenever the box's width differs from the one last fitted it sends the
window resize event that ``responsive`` figures redraw on. Nothing goes through the kernel, so the
graph follows its box even while a cell is running.
"""

from __future__ import annotations

import anywidget
import traitlets

_ESM = """
export default {
  render({ model, el }) {
    const selector = model.get("box");
    let box = null, fitted = null, fitFrame = 0, findFrame = 0, tries = 0;
    const fit = () => {
      fitFrame = 0;
      if (!box.querySelector(".js-plotly-plot .main-svg")) return;  // not drawn yet
      const width = Math.round(box.getBoundingClientRect().width);
      if (!width || width === fitted) return;  // hidden (another tab), or already fitted
      fitted = width;
      window.dispatchEvent(new Event("resize"));
    };
    const schedule = () => { if (!fitFrame) fitFrame = requestAnimationFrame(fit); };
    const resizes = new ResizeObserver(schedule);
    const changes = new MutationObserver(schedule);
    const find = () => {  // views are drawn before they are put in the page
      findFrame = 0;
      box = el.closest(selector);
      if (!box) {
        if (tries++ < 1200) findFrame = requestAnimationFrame(find);
        return;
      }
      resizes.observe(box);
      changes.observe(box, { childList: true, subtree: true });
      schedule();
    };
    find();
    return () => {
      resizes.disconnect();
      changes.disconnect();
      cancelAnimationFrame(fitFrame);
      cancelAnimationFrame(findFrame);
    };
  },
};
"""


class FitWidth(anywidget.AnyWidget):
    """Redraws the ``responsive`` plotly figures in the nearest ancestor matching ``box`` (a CSS
    selector) whenever that element's width changes. Shows nothing."""

    _esm = _ESM
    box = traitlets.Unicode(help="CSS selector of the box the figure must fill").tag(sync=True)
