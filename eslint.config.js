// ESLint flat config for the whole monorepo (issue #14, "lint and format like the ecosystem").
// Follows typescript-eslint's "Linting with Type Information" guide (typescript-eslint.io/getting-started/typed-linting)
// and eslint-plugin-svelte's TypeScript setup (sveltejs.github.io/eslint-plugin-svelte/user-guide/#type-script-project).
// Formatting is Prettier's job (.prettierrc): no stylistic formatting rules here.
import js from '@eslint/js';
import globals from 'globals';
import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';
import svelteConfig from './web/svelte.config.js';

const root = import.meta.dirname;

const randomMessage = 'Use the project random module (shared/src/random.ts): Math.random is not a CSPRNG.';

/**
 * Rules for every file. Math.random is not a CSPRNG: every random value goes through shared/src/random.ts
 * (ARCHITECTURE.md, security model), so both `Math.random` and `const { random } = Math` are refused.
 */
const common = {
  'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: randomMessage }]
};

/** no-restricted-syntax is one rule: its selectors for source and for tests are listed together. */
const mathRandomDestructured = {
  selector: "VariableDeclarator[init.name='Math'] > ObjectPattern > Property[key.name='random']",
  message: randomMessage
};
/**
 * tsconfig's noUncheckedIndexedAccess types every `a[i]` as `T | undefined`; an index already bounded by its
 * loop or by a length check is written `a[i]!` (as in noble-ciphers/noble-hashes). That one form is allowed; every
 * other non-null assertion (`value!`, `call()!`, `obj.prop!`) must be a real check. This replaces
 * @typescript-eslint/no-non-null-assertion, which cannot tell the two apart.
 */
const nonNullOnlyOnIndex = {
  selector: 'TSNonNullExpression:not([expression.type="MemberExpression"][expression.computed=true])',
  message: 'Non-null assertions are only for bounded indexed reads (`a[i]!`, noUncheckedIndexedAccess); check the value instead.'
};

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/build/**',
      '**/.svelte-kit/**',
      '**/test-results/**',
      '**/playwright-report/**',
      '**/.kofn/**',
      '**/.stryker-tmp/**',
      '**/reports/**',
      // wasm outputs written by shared/scripts/build-wasm.mjs
      'shared/src/generated/**',
      'relay/docker/.context/**',
      'web/docker/.context/**'
    ]
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' }
  },

  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  ...tseslint.configs.stylisticTypeChecked,
  ...svelte.configs.recommended,

  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
      parserOptions: {
        // typescript-eslint's project service finds each file's nearest tsconfig.json, as the editor does.
        projectService: {
          // Config files that no tsconfig includes (they are not part of any build).
          allowDefaultProject: ['playwright.config.ts', 'web/drizzle.config.ts', 'web/vitest.bench.config.ts', 'web/src/service-worker.ts']
        },
        tsconfigRootDir: root,
        extraFileExtensions: ['.svelte']
      }
    }
  },

  // shared/ and relay/: their tsconfig.json is the build (tests excluded); tsconfig.test.json adds the tests and
  // test helpers, so the linter reads that one (the project service only looks for files named tsconfig.json).
  {
    files: ['shared/**/*.ts'],
    languageOptions: { parserOptions: { projectService: false, project: './shared/tsconfig.test.json', tsconfigRootDir: root } }
  },
  {
    files: ['relay/**/*.ts'],
    languageOptions: { parserOptions: { projectService: false, project: './relay/tsconfig.test.json', tsconfigRootDir: root } }
  },

  // The web app runs in the browser (and its workers) as well as on the server.
  {
    files: ['web/src/**/*.{ts,js,svelte}', 'web/static/**/*.js'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } }
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts', '**/*.svelte.js'],
    languageOptions: {
      parserOptions: {
        parser: tseslint.parser,
        svelteConfig
      }
    }
  },

  // Plain JavaScript (scripts, launchers, configs) has no types to check: keep the non-type-aware rules only.
  {
    files: ['**/*.{js,mjs,cjs}'],
    ...tseslint.configs.disableTypeChecked
  },

  {
    files: ['**/*.{ts,mts,svelte}'],
    rules: {
      // Only KofnError (or another Error) is thrown; never strings or plain objects (issue #14, one error model).
      // strictTypeChecked already has it; stated here so that it stays on whatever the preset does.
      '@typescript-eslint/only-throw-error': 'error'
    }
  },
  {
    files: ['**/*.{ts,mts,svelte}'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-restricted-syntax': ['error', mathRandomDestructured, nonNullOnlyOnIndex],
      // Numbers (and bigints), booleans print unambiguously in messages and URLs; objects, nullish values and
      // unions with them are still refused (they print "[object Object]" / "undefined").
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `(e) => console.log(e)` and `onclick={() => (open = false)}` are the idiom of Svelte handlers and
      // promise callbacks; a void value returned from an arrow body is not confusing there.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `T[]` for simple types, `Array<{ ... }>` for complex ones: the style the code already follows.
      '@typescript-eslint/array-type': ['error', { default: 'array-simple' }],
      // This stylistic rule rewrites `x as T` into `x!`, which the non-null rule above refuses outside indexed reads.
      '@typescript-eslint/non-nullable-type-assertion-style': 'off'
    }
  },
  {
    // Tests: a wrong `!` throws and fails the test, which is the check a test wants.
    files: ['**/*.test.ts', '**/testing/**', 'e2e/**', 'shared/test/**'],
    rules: {
      'no-restricted-syntax': ['error', mathRandomDestructured]
    }
  },
  {
    files: ['**/*.{js,mjs,cjs}'],
    rules: { 'no-restricted-syntax': ['error', mathRandomDestructured] }
  },
  {
    rules: common
  }
);
