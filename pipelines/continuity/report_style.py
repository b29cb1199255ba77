"""The continuity report's stylesheet, inlined into the page.

Neutral greys only around the pictures (as in a grading suite, so the page
itself does not tint what a reviewer judges); colour is kept for the verdict
and severity marks. Must never reference an external font, image or script.
"""

CSS = """
:root {
  --bg: #1b1b1c; --panel: #252527; --line: #3a3a3d; --text: #e6e6e6; --dim: #a0a0a4;
  --ok: #4caf7a; --fixed: #5b9bd5; --review: #e0a43a; --error: #e05d5d; --info: #8f8f96;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 15px/1.55 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { padding: 28px 40px 18px; border-bottom: 1px solid var(--line); }
h1 { margin: 0 0 6px; font-size: 22px; font-weight: 600; letter-spacing: .01em; }
.summary { margin: 0 0 12px; color: var(--dim); }
nav { display: flex; flex-wrap: wrap; gap: 6px; }
a.chip { color: var(--text); text-decoration: none; font-size: 13px; padding: 2px 10px;
  border-radius: 12px; border: 1px solid var(--line); border-left: 4px solid var(--info); }
a.chip:hover { background: var(--panel); }
main { max-width: 1180px; margin: 0 auto; padding: 24px 40px 60px; }
section.cut { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  margin: 0 0 28px; padding: 20px 24px; }
section.cut > header { display: flex; align-items: baseline; gap: 14px; margin-bottom: 14px; }
h2 { margin: 0; font-size: 19px; font-weight: 600; }
.arrow { color: var(--dim); padding: 0 2px; }
.where { margin-left: auto; color: var(--dim); font-size: 13px; font-variant-numeric: tabular-nums; }
.pill, .badge, .sev { display: inline-block; font-size: 12px; font-weight: 600; text-transform: uppercase;
  letter-spacing: .06em; padding: 1px 9px; border-radius: 10px; color: #111; background: var(--info); }
.pill { margin-left: 6px; }
.ok { --mark: var(--ok); } .fixed { --mark: var(--fixed); } .review { --mark: var(--review); }
.error { --mark: var(--error); } .warn { --mark: var(--review); } .info { --mark: var(--info); }
.pill, .badge, .sev { background: var(--mark, var(--info)); }
a.chip { border-left-color: var(--mark, var(--info)); }
.pairs { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; margin-bottom: 16px; }
figure { margin: 0; }
.frames { display: grid; grid-template-columns: 1fr 1fr; gap: 3px; background: #000; padding: 3px; border-radius: 4px; }
.frames img { width: 100%; display: block; image-rendering: auto; }
.missing { aspect-ratio: 16 / 9; display: flex; align-items: center; justify-content: center;
  color: var(--error); font-size: 13px; background: repeating-linear-gradient(45deg, #222, #222 8px, #2a2a2a 8px, #2a2a2a 16px); }
figcaption { color: var(--dim); font-size: 13px; margin-top: 6px; }
ol.findings { list-style: none; margin: 0; padding: 0; }
li.finding { border-top: 1px solid var(--line); padding: 12px 0 10px 14px; border-left: 3px solid var(--mark); }
li.finding .head { display: flex; align-items: center; gap: 10px; }
li.finding strong { font-weight: 600; }
.threshold { margin-left: auto; color: var(--dim); font-size: 12px; font-variant-numeric: tabular-nums; }
li.finding p { margin: 6px 0; max-width: 78ch; }
p.fix { color: var(--text); }
p.fix b { color: var(--fixed); margin-right: 6px; }
p.fix.review b { color: var(--review); }
code, pre { font: 12.5px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: #cfd3d8; }
pre { background: #1b1b1c; padding: 10px 12px; border-radius: 4px; overflow-x: auto; max-height: 260px; }
details { margin-top: 4px; }
summary { cursor: pointer; color: var(--dim); font-size: 13px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 6px 0 0; font-size: 13px; }
dt { color: var(--dim); } dd { margin: 0; font-variant-numeric: tabular-nums; }
.clean { color: var(--ok); margin: 4px 0 0; }
.empty { color: var(--dim); }
section.takes table { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
section.takes th, section.takes td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); }
section.takes tr.accepted td { color: var(--ok); font-weight: 600; }
section.takes tr.rejected td { color: var(--dim); }
@media (max-width: 800px) { main, header.top { padding-left: 16px; padding-right: 16px; }
  .pairs { grid-template-columns: 1fr; } }
"""
