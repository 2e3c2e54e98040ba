export const PROTOCOL_VERSION = 1;
export * from './errors.ts';
export * from './slides.ts';
export * from './jobs.ts';
export * from './auth.ts';
export * from './review.ts';
export * from './geojson.ts';
export * from './cases.ts';
export * from './case-page.ts';
