import { describe, expect, it } from 'vitest';
import { parseWrkOutput, wrkScript } from './wrk.ts';

describe('wrk replay script', () => {
  it('quotes paths and headers for Lua, in order, and prints one JSON line at the end', () => {
    const lua = wrkScript(['/a_files/1/0_0.jpeg', '/b"\\c'], { authorization: 'Bearer x"y' });
    expect(lua).toContain('"/a_files/1/0_0.jpeg",\n  "/b\\"\\\\c",');
    expect(lua).toContain('["authorization"] = "Bearer x\\"y"');
    expect(lua).toContain('WRK_JSON');
  });

  it('reads the summary line and refuses output without one', () => {
    const s = parseWrkOutput(
      'Running 1s test\nWRK_JSON {"requests":10,"bytes":100,"durationUs":1000000,"connect":0,"read":0,"write":0,"status":2,"timeout":0,"p50":900.5,"p90":1000,"p99":2000,"max":3000}\n',
    );
    expect(s).toMatchObject({ requests: 10, status: 2, p99: 2000 });
    expect(() => parseWrkOutput('unable to connect to 127.0.0.1:1')).toThrow(/no summary/);
  });
});
