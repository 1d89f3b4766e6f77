/**
 * Retrieval of tree files (issue #21): rankTree and replaceInTree now live in the protocol core
 * (shared/src/tree-ranking.ts), so the browser and the command line (issue #20) choose relays the same
 * way; re-exported here for retrieve.ts and this folder's test.
 */
export { rankTree, replaceInTree } from '@kofn/shared';
