export * from './errors.js';
export * from './version.js';
export * from './announcement.js';
