import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MetricIndex, parsePrometheusText, parseSampleValue } from './prometheus-text.ts';

describe('Prometheus text parser', () => {
  it('reads HELP, TYPE, plain samples and ignores other comments and blank lines', () => {
    const parsed = parsePrometheusText(
      [
        '# HELP node_load1 1m load average.',
        '# TYPE node_load1 gauge',
        'node_load1 0.52',
        '',
        '# a free-form comment # TYPE is not at the start',
        '   ',
        'node_load5\t0.4',
      ].join('\n'),
    );
    assert.deepEqual(parsed.errors, []);
    assert.equal(parsed.help.get('node_load1'), '1m load average.');
    assert.equal(parsed.types.get('node_load1'), 'gauge');
    assert.deepEqual(parsed.samples, [
      { name: 'node_load1', labels: {}, value: 0.52, timestampMs: null },
      { name: 'node_load5', labels: {}, value: 0.4, timestampMs: null },
    ]);
  });

  it('unescapes label values (\\\\, \\", \\n) and keeps commas, braces and spaces inside quotes', () => {
    const line = String.raw`http_requests_total{path="C:\\dir\\x",quote="say \"hi\"",multi="a\nb",odd="a,b} c=\"d\""} 3`;
    const { samples, errors } = parsePrometheusText(line);
    assert.deepEqual(errors, []);
    assert.deepEqual(samples[0]!.labels, { path: 'C:\\dir\\x', quote: 'say "hi"', multi: 'a\nb', odd: 'a,b} c="d"' });
    assert.equal(samples[0]!.value, 3);
  });

  it('accepts blanks around labels, a trailing comma, empty label sets and unicode values', () => {
    const { samples, errors } = parsePrometheusText('m { a = "x" , b="ü✓", } 1\nn{} 2\no{a="x"}3');
    assert.deepEqual(errors, []);
    assert.deepEqual(
      samples.map((s) => [s.name, s.labels, s.value]),
      [
        ['m', { a: 'x', b: 'ü✓' }, 1],
        ['n', {}, 2],
        ['o', { a: 'x' }, 3],
      ],
    );
  });

  it('parses NaN, ±Inf, exponents and timestamps', () => {
    const { samples, errors } = parsePrometheusText(
      ['a NaN', 'b +Inf', 'c -Inf', 'd 1.5e+3 1700000000000', 'e -0.25 -12', 'f Inf', 'g 1E-2', 'h .5'].join('\n'),
    );
    assert.deepEqual(errors, []);
    assert.ok(Number.isNaN(samples[0]!.value));
    assert.equal(samples[1]!.value, Infinity);
    assert.equal(samples[2]!.value, -Infinity);
    assert.equal(samples[3]!.value, 1500);
    assert.equal(samples[3]!.timestampMs, 1_700_000_000_000);
    assert.equal(samples[4]!.value, -0.25);
    assert.equal(samples[4]!.timestampMs, -12);
    assert.equal(samples[5]!.value, Infinity);
    assert.equal(samples[6]!.value, 0.01);
    assert.equal(samples[7]!.value, 0.5);
  });

  it('handles CRLF line endings and unescapes HELP text', () => {
    const parsed = parsePrometheusText('# HELP x line one\\nline two \\\\ done\r\n# TYPE x counter\r\nx_total 7\r\n');
    assert.deepEqual(parsed.errors, []);
    assert.equal(parsed.help.get('x'), 'line one\nline two \\ done');
    assert.equal(parsed.samples[0]!.value, 7);
  });

  it('reports each malformed line with its number and keeps the good ones', () => {
    const text = [
      'good 1',
      'no_value',
      'bad_value abc',
      'bad{a="x} 1',
      'bad{a="\\t"} 1',
      'bad{a="1",a="2"} 1',
      'bad{1a="x"} 1',
      'bad{a="x"b="y"} 1',
      'bad 1 1.5',
      'bad 1 2 3',
      '# TYPE bad nonsense',
      '9starts_with_digit 1',
      'also_good{x="y"} 2',
    ].join('\n');
    const parsed = parsePrometheusText(text);
    assert.deepEqual(
      parsed.samples.map((s) => s.name),
      ['good', 'also_good'],
    );
    assert.deepEqual(
      parsed.errors.map((e) => e.line),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    );
    assert.match(parsed.errors[0]!.message, /missing sample value/);
    assert.match(parsed.errors[1]!.message, /invalid sample value "abc"/);
    assert.match(parsed.errors[2]!.message, /unterminated/);
    assert.match(parsed.errors[3]!.message, /invalid escape/);
    assert.match(parsed.errors[4]!.message, /duplicate label "a"/);
    assert.match(parsed.errors[7]!.message, /invalid timestamp "1.5"/);
    assert.match(parsed.errors[8]!.message, /unexpected text after timestamp/);
    assert.match(parsed.errors[9]!.message, /unknown metric type "nonsense"/);
  });

  it('treats only exponent/decimal/Inf/NaN spellings as values', () => {
    for (const bad of ['', '0x10', '1_000', 'infinite', '1.2.3', '--1']) assert.equal(parseSampleValue(bad), null, bad);
    assert.equal(parseSampleValue('+Infinity'), Infinity);
    assert.ok(Number.isNaN(parseSampleValue('nan')!));
  });

  it('indexes samples: first match by labels, sums over series, skips non-finite values', () => {
    const m = MetricIndex.fromText('x{a="1"} 2\nx{a="2"} 3\nx{a="3"} NaN\ny NaN\n');
    assert.equal(m.value('x', { a: '2' }), 3);
    assert.equal(m.value('x', { a: '3' }), null);
    assert.equal(m.value('y'), null);
    assert.equal(m.value('missing'), null);
    assert.equal(m.sum('x'), 5);
    assert.equal(m.sum('y'), null);
    assert.equal(m.has('x'), true);
  });
});
