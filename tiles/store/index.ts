export * from './types.ts';
export { LocalSlideStore, type StoreFs } from './local.ts';
