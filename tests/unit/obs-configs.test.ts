// The compose stack's Prometheus config is valid for Prometheus itself (promtool ships with
// Debian's prometheus package, which tests/run.sh installs), and scrapes both of our /metrics.
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/fixture';

describe('observability stack configuration', () => {
  it('prometheus.yml passes promtool and scrapes collab-server and the app', () => {
    const file = join(ROOT, 'observability/prometheus.yml');
    const out = execFileSync('promtool', ['check', 'config', file], { encoding: 'utf8' });
    expect(out).toContain('SUCCESS');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain("'collab-server:1234'");
    expect(text).toContain("'app:3000'");
  });

  it('compose runs every service the README names, with telemetry on for app and collab-server', () => {
    const compose = readFileSync(join(ROOT, 'observability/compose.yaml'), 'utf8');
    for (const s of ['app', 'collab-server', 'grafana', 'loki', 'tempo', 'prometheus', 'otel-collector']) expect(compose).toMatch(new RegExp(`^  ${s}:$`, 'm'));
    expect(compose).toContain("OTEL_ENABLED: 'true'");
    expect(compose).toContain('LOKI_URL: http://loki:3100');
    expect(compose).toContain('--enable-feature=exemplar-storage');
  });
});
