import { describe, expect, it } from 'vitest';
import { firstAdminCommand, shellWord } from './setup.ts';

describe('the first-administrator command', () => {
  it('names the server’s data folder', () => {
    expect(firstAdminCommand('/srv/tessera/data')).toBe(
      'npx tessera user add --name NAME --role admin --site SITE --password-stdin --data /srv/tessera/data',
    );
  });
  it('quotes a folder a shell would split or expand', () => {
    expect(shellWord('/home/pat/my slides')).toBe("'/home/pat/my slides'");
    expect(shellWord("/data/o'neil")).toBe("'/data/o'\\''neil'");
    expect(shellWord('/data/$HOME;rm')).toBe("'/data/$HOME;rm'");
  });
});
