// Alerts and SLOs: observability/rules.yml passes `promtool check rules`, and its promtool unit tests
// (observability/rules.test.yml) pass: every alert fires on a synthetic series that should trigger it
// and stays silent on normal traffic. Every alert also has a summary, a runbook section in the
// README and a panel (titled with its name) in the overview dashboard.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixture';

const rulesText = readFileSync(join(ROOT, 'observability/rules.yml'), 'utf8');
const testsText = readFileSync(join(ROOT, 'observability/rules.test.yml'), 'utf8');
const alerts = [...rulesText.matchAll(/^\s+- alert: (\w+)$/gm)].map((m) => m[1]!);

describe('Prometheus alerting rules', () => {
  it('pass promtool check rules, and the compose Prometheus loads them', () => {
    expect(alerts.length).toBeGreaterThanOrEqual(18);
    expect(execFileSync('promtool', ['check', 'rules', join(ROOT, 'observability/rules.yml')], { encoding: 'utf8' })).toContain('SUCCESS');
    expect(readFileSync(join(ROOT, 'observability/prometheus.yml'), 'utf8')).toMatch(/rule_files:\s+- rules\.yml/);
    expect(readFileSync(join(ROOT, 'observability/compose.yaml'), 'utf8')).toContain('./rules.yml:/etc/prometheus/rules.yml:ro');
  });

  it('every alert has a firing case and a silent case under normal traffic in rules.test.yml', () => {
    const groups = testsText.split(/^- name: /m).slice(1);
    const normal = groups.find((g) => g.startsWith("'normal traffic") || g.startsWith('normal traffic'));
    expect(normal, 'normal-traffic group').toBeDefined();
    for (const a of alerts) {
      const firing = groups.find((g) => g.startsWith(`'${a} fires`) || g.startsWith(`${a} fires`));
      expect(firing, `${a}: firing test`).toBeDefined();
      expect(firing).toMatch(new RegExp(`alertname: ${a}\\s+exp_alerts:\\s+- exp_labels`));
      expect(normal).toMatch(new RegExp(`alertname: ${a}\\s+exp_alerts: \\[\\]`));
    }
  });

  it('promtool test rules passes', () => {
    const out = execFileSync('promtool', ['test', 'rules', join(ROOT, 'observability/rules.test.yml')], { encoding: 'utf8', timeout: 180_000 });
    expect(out).toContain('SUCCESS');
  }, 200_000);

  it('every alert has a summary, a severity, a README runbook section and a dashboard panel', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const runbooks = readme.slice(readme.indexOf('### Alerts and runbooks'));
    const overview = JSON.parse(readFileSync(join(ROOT, 'observability/dashboards/tandem-overview.json'), 'utf8')) as { panels: { title: string }[] };
    const titles = new Set(overview.panels.map((p) => p.title));
    for (const a of alerts) {
      const block = rulesText.slice(rulesText.indexOf(`- alert: ${a}\n`)).split(/\n\s+- (alert|record): /)[0]!;
      expect(block, a).toMatch(/severity: (page|ticket)/);
      expect(block, a).toMatch(/summary: \S/);
      expect(block, a).toContain(`runbook_url: README.md#${a.toLowerCase()}`);
      expect(runbooks, `README runbook for ${a}`).toMatch(new RegExp(`^#### ${a}$`, 'm'));
      expect(titles, `dashboard panel for ${a}`).toContain(a);
    }
  });
});
