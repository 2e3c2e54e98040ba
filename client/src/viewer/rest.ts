/**
 * When a moving view has come to rest. OpenSeadragon's springs report a change on the frame they
 * reach their targets, so it raises animation-finish one frame later, after a frame that redraws the
 * same view (30-45 ms on a workstation without a GPU while tiles arrive). The view is at rest on the
 * frame that drew its destination: that frame says so, and animation-finish only where no frame did
 * (a move ended without one at its destination, e.g. cut short).
 */
export class RestTracker {
  /** Between OpenSeadragon's animation-start and animation-finish. */
  private animatingOsd = false;
  /** The last requested destination has been drawn (each new request clears it). */
  private rested = true;

  /** A pan, zoom or rotation was requested. */
  request(): void {
    this.rested = false;
  }

  started(): void {
    this.animatingOsd = true;
  }

  /** A frame was drawn while animating; `atTarget`: every spring had reached its target. True: now at rest. */
  frame(atTarget: boolean): boolean {
    if (this.rested || !atTarget) return false;
    this.rested = true;
    return true;
  }

  /** OpenSeadragon's animation-finish. True: now at rest (no frame said so before). */
  finished(): boolean {
    this.animatingOsd = false;
    if (this.rested) return false;
    this.rested = true;
    return true;
  }

  /** Moving towards a destination not drawn yet. */
  get moving(): boolean {
    return this.animatingOsd && !this.rested;
  }
}
