// The part of a package's Stryker options that names one module: stryker/run.mjs sets KOFN_STRYKER_MODULE
// (a path from stryker/modules.mjs) and Stryker, started in the package's folder, mutates that file only,
// keeps its incremental state in stryker/<package>/<module>.incremental.json (committed) and writes its
// reports to test-results/stryker/<package>/<module>.{json,html}.
import { MODULES, moduleKey } from './modules.mjs';

/** @param {keyof typeof MODULES} pkg */
export function scope(pkg) {
  const file = process.env.KOFN_STRYKER_MODULE;
  if (file === undefined) throw new Error('Run Stryker through `npm run test:mutation` (stryker/run.mjs), which names the module.');
  if (!MODULES[pkg].includes(file)) throw new Error(`${file} is not a module of ${pkg} in stryker/modules.mjs`);
  const key = moduleKey(file);
  return {
    mutate: [file],
    incremental: true,
    incrementalFile: `../stryker/${pkg}/${key}.incremental.json`,
    reporters: ['clear-text', 'progress', 'json', 'html'],
    jsonReporter: { fileName: `../test-results/stryker/${pkg}/${key}.json` },
    htmlReporter: { fileName: `../test-results/stryker/${pkg}/${key}.html` }
  };
}
