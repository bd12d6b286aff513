import { describe, expect, it } from 'vitest';
import { normalizeHref } from '../../lib/link-href';

describe('normalizeHref (what a link field stores)', () => {
  it('adds https:// to a bare host or host and path', () => {
    expect(normalizeHref('example.org')).toBe('https://example.org');
    expect(normalizeHref('example.org/page')).toBe('https://example.org/page');
    expect(normalizeHref(' www.example.org/a?b=1#c ')).toBe('https://www.example.org/a?b=1#c');
    expect(normalizeHref('localhost:3000/d/x')).toBe('https://localhost:3000/d/x');
    expect(normalizeHref('example.org:8080')).toBe('https://example.org:8080');
    expect(normalizeHref('10.0.0.1/admin')).toBe('https://10.0.0.1/admin');
    expect(normalizeHref('//example.org/x')).toBe('https://example.org/x');
  });
  it('keeps full web, mail and phone addresses and in-app paths', () => {
    expect(normalizeHref('http://example.org')).toBe('http://example.org');
    expect(normalizeHref('HTTPS://Example.org/P')).toBe('HTTPS://Example.org/P');
    expect(normalizeHref('mailto:a@b.org')).toBe('mailto:a@b.org');
    expect(normalizeHref('tel:+441234')).toBe('tel:+441234');
    expect(normalizeHref('/d/abc')).toBe('/d/abc');
    expect(normalizeHref('#heading')).toBe('#heading');
  });
  it('turns an email address into mailto:', () => {
    expect(normalizeHref('ann@example.org')).toBe('mailto:ann@example.org');
  });
  it('refuses what is not an address or runs code', () => {
    for (const bad of ['', '   ', 'hello', 'two words.org', 'javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,x', 'vbscript:x', 'https:', '//nohost']) {
      expect(normalizeHref(bad), bad).toBeNull();
    }
  });
});
