/**
 * A one-line progress bar on stderr when it is a terminal; silent otherwise (logs and pipes stay
 * clean, and --json output on stdout is never mixed with it).
 */
export class ProgressLine {
  private readonly tty = process.stderr.isTTY === true;
  private last = '';
  private readonly started = Date.now();

  constructor(private readonly label: string) {}

  update(percent: number, stage: string): void {
    if (!this.tty) return;
    const width = 28;
    const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
    const secs = ((Date.now() - this.started) / 1000).toFixed(0);
    const line = `${this.label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${stage} ${secs}s`;
    const cols = process.stderr.columns ?? 100;
    const text = line.length > cols - 1 ? line.slice(0, cols - 1) : line;
    if (text === this.last) return;
    this.last = text;
    process.stderr.write(`\r\x1b[2K${text}`);
  }

  stop(): void {
    if (this.tty && this.last) process.stderr.write('\r\x1b[2K');
  }
}
