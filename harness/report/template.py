"""The report's HTML template (kept in a module so an installed package carries it)."""

PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>clockbench report {{ env.commit }} ({{ run_name }})</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{margin:0 0 4px 0;font-size:24px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
.sub{color:#666;margin-bottom:16px}
.phases{display:flex;gap:16px;flex-wrap:wrap}
.phase{border:1px solid #ddd;border-radius:8px;padding:10px 14px;min-width:250px}
.phase h3{margin:0 0 6px 0;font-size:16px}
.legend span{display:inline-block;margin-right:12px;font-size:13px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid #e5e5e5;padding:5px 6px;text-align:left;vertical-align:top}
th{background:#f6f6f6;position:sticky;top:0}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.v{display:inline-block;padding:2px 7px;border-radius:4px;color:#fff;font-weight:bold;font-size:12px;white-space:nowrap}
.why{color:#555;font-size:12px}
.def{color:#777;font-size:11px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.env td{font-size:12px} code{font-size:12px}
.counts{font-size:13px;margin-top:4px}
.headline{font-size:14px;margin:6px 0 2px 0}
.notice{border-left:4px solid #e0a100;background:#fff8e1;padding:6px 10px;margin:6px 0;font-size:13px}
.src{display:inline-block;margin-top:3px;padding:1px 6px;border-radius:3px;background:#eceff1;color:#37474f;font-size:11px}
.forest{overflow-x:auto;margin:10px 0 18px 0}
</style></head><body>
<h1>clockbench: does the clock plan hold on this machine?</h1>
<div class="sub">run <code>{{ run_name }}</code> · commit <code>{{ env.commit }}{% if env.dirty %} (uncommitted changes){% endif %}</code> ·
{{ env.cpu_count }} CPUs · {{ generated }}{% if quick %} · <b>quick run</b>: fewer rounds, wider intervals{% endif %}</div>
{% for n in notices %}<div class="notice">{{ n }}</div>{% endfor %}

<h2 id="summary">Summary: verdicts per phase</h2>
<div class="legend">{% for v, c in verdict_colors.items() %}<span><span class="sw" style="background:{{ c }}"></span>{{ v }}</span>{% endfor %}</div>
<div class="phases">
{% for p in phases %}
<div class="phase"><h3>{{ p.title }}</h3>{{ p.bar|safe }}
<div class="headline">{{ p.headline }}</div><div class="counts">{% for v, n in p.counts.items() if n %}<b style="color:{{ verdict_colors[v] }}">{{ n }} {{ v }}</b>{% if not loop.last %} · {% endif %}{% endfor %}</div>
</div>
{% endfor %}
</div>
<p class="why">PASS: the whole 95% confidence interval of the change clears the plan's threshold. FAIL: the whole interval misses it.
INCONCLUSIVE: it straddles the threshold. INVALID: the measurement cannot be trusted (reason given). NOT MEASURED: reason given.
In the plots below, one per phase, every judged criterion shares its panel's axis: the bar is the 95% CI, the dot the estimate,
the dashed tick the plan's threshold for that criterion, and an arrow marks an interval running off the axis.</p>
{% for p in phases if p.forest %}<div class="forest">{{ p.forest|safe }}</div>{% endfor %}
{% if builds %}<h3>Builds named in this report</h3>
<table class="env">{% for b, what in builds %}<tr><th>{{ b }}</th><td>{{ what }}</td></tr>{% endfor %}</table>{% endif %}

<h2 id="criteria">Criteria</h2>
<table>
<tr><th>verdict</th><th>id</th><th>phase</th><th>the plan says</th><th>baseline</th><th>clocked</th><th>change</th><th>95% CI</th><th>threshold</th></tr>
{% for r in rows %}
<tr id="{{ r.id }}"><td><span class="v" style="background:{{ r.color }}">{{ r.verdict }}</span></td>
<td><code>{{ r.id }}</code></td><td>{{ r.phase_label }}</td>
<td>{{ r.statement }}<div class="why">{{ r.reason }}</div>{% if r.measured_on %}<div class="src" title="{{ r.measured_on }}">measured on {{ r.measured_on }}</div>{% endif %}{% if r.definition %}<details class="def"><summary>how it is measured</summary>{{ r.definition }}</details>{% endif %}</td>
<td class="num">{{ r.baseline_s }}</td><td class="num">{{ r.clocked_s }}</td><td class="num"><b>{{ r.change_s }}</b></td>
<td class="num">{{ r.ci_s }}</td><td class="num">{{ r.threshold_s }}</td></tr>
{% endfor %}
</table>

{% for comp in components %}
<h2 id="component-{{ comp.name }}">{{ comp.title }}</h2>
<p>{% for r in comp.rows %}<span class="v" style="background:{{ r.color }}">{{ r.verdict }}</span> <a href="#{{ r.id }}"><code>{{ r.id }}</code></a>&nbsp; {% endfor %}</p>
{% if comp.table %}{{ comp.table|safe }}{% endif %}
{% if comp.extra %}{{ comp.extra|safe }}{% endif %}
<div class="charts">{% for c in comp.charts %}{{ c|safe }}{% endfor %}</div>
{% if not comp.charts and not comp.table %}<p class="why">No measurements for this component in this run.</p>{% endif %}
{% endfor %}

<h2 id="environment">Environment</h2>
<table class="env">
{% for k, v in env_rows %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>

<h2 id="raw">Raw data</h2>
<ul>{% for f in raw_files %}<li><a href="{{ f }}">{{ f }}</a></li>{% endfor %}</ul>
<h3>Producers in this run</h3>
<table>{% for p in producers %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.status }}</td><td class="why">{{ p.detail }}{% if p.prefixes %} (metrics {{ p.prefixes|join(", ") }}){% endif %}</td></tr>{% endfor %}</table>
</body></html>
"""
