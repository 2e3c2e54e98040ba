import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules', 'dist', 'data', '.bench', 'tests/.fixtures', 'tests/artifacts', 'client/dist'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The browser bundle: OpenSeadragon only behind client/src/viewer/, protocol/ for types only
    // (its values pull zod into the bundle), and nothing of the server's.
    files: ['client/src/**/*.ts', 'client/src/**/*.tsx'],
    ignores: ['client/src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'openseadragon', message: 'Only client/src/viewer/ talks to OpenSeadragon.' }],
          patterns: [
            {
              // palette.ts and annotation-shapes.ts hold values but no zod: the one list of default
              // classes, and the packed form of annotations the server sends and the viewer reads.
              group: ['**/protocol/*', '!**/protocol/palette.ts', '!**/protocol/annotation-shapes.ts'],
              allowTypeImports: true,
              message: 'Import protocol/ types only; keep client copies of constants.',
            },
            {
              group: ['**/server/*', '**/tiles/*', '**/scripts/*'],
              message: 'The client talks to the server over HTTP only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['client/src/viewer/**/*.ts', 'client/src/viewer/**/*.tsx'],
    ignores: ['client/src/**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // palette.ts and annotation-shapes.ts hold values but no zod: the one list of default
              // classes, and the packed form of annotations the server sends and the viewer reads.
              group: ['**/protocol/*', '!**/protocol/palette.ts', '!**/protocol/annotation-shapes.ts'],
              allowTypeImports: true,
              message: 'Import protocol/ types only; keep client copies of constants.',
            },
            {
              group: ['**/server/*', '**/tiles/*', '**/scripts/*'],
              message: 'The client talks to the server over HTTP only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
