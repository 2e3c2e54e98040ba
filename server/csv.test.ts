import { describe, expect, it } from 'vitest';
import { csvCell, csvRow } from './csv.ts';

describe('CSV cells (formula injection)', () => {
  it('prefixes text starting with = + - @ tab or carriage return with a quote', () => {
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('+1')).toBe("'+1");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1:A9)')).toBe("'@SUM(A1:A9)");
    expect(csvCell('\t=1')).toBe("'\t=1");
    // A carriage return also needs quoting: the cell stays one field.
    expect(csvCell('\r=1')).toBe(`"'\r=1"`);
    expect(csvCell('=HYPERLINK("http://evil.example","open")')).toBe(
      `"'=HYPERLINK(""http://evil.example"",""open"")"`,
    );
  });

  it('leaves ordinary text, numbers and JSON as they were', () => {
    expect(csvCell('ada')).toBe('ada');
    expect(csvCell('a=b')).toBe('a=b');
    expect(csvCell(' =1')).toBe(' =1');
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell(12.5)).toBe('12.5');
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
  });

  it('a row joins its defused cells with commas', () => {
    expect(csvRow(['=cmd|/C calc!A0', 'plain', -1, '@x', 'a,"b"', null])).toBe(
      `'=cmd|/C calc!A0,plain,-1,'@x,"a,""b""",`,
    );
  });
});
