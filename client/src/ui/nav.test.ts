import { describe, expect, it } from 'vitest';
import { canSeeAdmin, canSeeAiQa, canSeeDashboard, canSeeWorklist, isCurrent, navItems } from './nav.ts';

describe('navigation', () => {
  it('offers each role the pages it can use', () => {
    expect(navItems('pathologist').map((i) => i.label)).toEqual(['Library', 'Worklist']);
    expect(navItems('lab_manager').map((i) => i.label)).toEqual([
      'Library',
      'Dashboard',
      'AI quality',
      'Admin',
    ]);
    expect(navItems('admin').map((i) => i.label)).toEqual(['Library', 'Dashboard', 'AI quality', 'Admin']);
    expect(navItems('specialist').map((i) => i.label)).toEqual(['Library']);
    expect(canSeeWorklist('pathologist')).toBe(true);
    expect(canSeeWorklist('lab_manager')).toBe(false);
    expect(canSeeDashboard('lab_manager')).toBe(true);
    expect(canSeeDashboard('pathologist')).toBe(false);
    expect(canSeeAiQa('lab_manager')).toBe(true);
    expect(canSeeAiQa('admin')).toBe(true);
    expect(canSeeAiQa('pathologist')).toBe(false);
    expect(canSeeAiQa('specialist')).toBe(false);
    expect(canSeeAdmin('admin')).toBe(true);
    expect(canSeeAdmin('lab_manager')).toBe(true);
    expect(canSeeAdmin('pathologist')).toBe(false);
    expect(canSeeAdmin('specialist')).toBe(false);
  });
  it('marks the current page', () => {
    const [library, worklist] = navItems('pathologist');
    expect(isCurrent(library!, '/')).toBe(true);
    expect(isCurrent(library!, '/worklist')).toBe(false);
    expect(isCurrent(worklist!, '/worklist')).toBe(true);
    expect(isCurrent(worklist!, '/worklists')).toBe(false);
    const qa = navItems('lab_manager').find((i) => i.to === '/ai-qa')!;
    expect(isCurrent(qa, '/ai-qa')).toBe(true);
    expect(isCurrent(qa, '/dashboard')).toBe(false);
  });
});
