// Lint rules that keep the architecture honest: src/protocol/ and the site policy are pure (no sockets, timers,
// logging or metrics), and no `any` anywhere. Run by `npm test` through `npm run lint`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const IMPURE_MODULES = [
  { name: 'node:net', message: 'src/protocol/ is pure: sockets belong in src/net/ or src/session/.' },
  { name: 'net', message: 'src/protocol/ is pure: sockets belong in src/net/ or src/session/.' },
  { name: 'node:tls', message: 'src/protocol/ is pure: TLS belongs in src/net/.' },
  { name: 'node:dgram', message: 'src/protocol/ is pure.' },
  { name: 'node:timers', message: 'src/protocol/ is pure: timers belong to the session that owns them.' },
  { name: 'node:timers/promises', message: 'src/protocol/ is pure: timers belong to the session that owns them.' },
  { name: 'node:fs', message: 'src/protocol/ is pure: no file I/O.' },
  { name: 'node:fs/promises', message: 'src/protocol/ is pure: no file I/O.' },
  { name: 'pino', message: 'src/protocol/ is pure: return values, let the caller log.' },
  { name: 'prom-client', message: 'src/protocol/ is pure: return values, let the caller count.' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'dist-bench/**', 'dist-check/**', 'node_modules/**', 'bench/results/**', '.container/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/protocol/**/*.ts', 'src/site/site-policy.ts'],
    rules: {
      // Type-only imports carry no behaviour (a refusal reason's name, a config's shape).
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: IMPURE_MODULES.map((entry) => ({ ...entry, allowTypeImports: true })),
          patterns: [
            {
              group: ['**/observability/*', '**/observability/**'],
              message: 'src/protocol/ is pure: no logger or metrics.',
              allowTypeImports: true,
            },
            {
              group: ['**/net/*', '**/session/*', '**/data/*'],
              message: 'src/protocol/ is pure: it must not reach into I/O code.',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'setImmediate', 'clearTimeout', 'clearInterval', 'clearImmediate', 'queueMicrotask', 'process', 'console', 'fetch'].map(
          (name) => ({ name, message: `src/protocol/ is pure: ${name} belongs to I/O code.` }),
        ),
      ],
    },
  },
);
