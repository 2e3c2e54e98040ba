/** A shell word for `s`: as it is when it holds no special character, else single-quoted. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The command that makes the first administrator of the server whose data folder is `dataDir`
 * (the folder named, so that it reaches this server's database whatever the current directory).
 */
export function firstAdminCommand(dataDir: string): string {
  return `npx tessera user add --name NAME --role admin --site SITE --password-stdin --data ${shellWord(dataDir)}`;
}
