/**
 * A loaded, checked topology (what `HotaruConfig.load` and `fromObject` return).
 *
 * @since 0.1.0
 */
import type { HotaruConfig } from "./schema.js"
/**
 * A loaded, checked topology: the decoded file plus where it came from (relative paths such as
 * `app` resolve against `dir`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly file: string
  readonly dir: string
  readonly config: HotaruConfig
  /**
   * What the file says that hotaru reads differently from firefly or ignores (`warningsOf`), one
   * line each; the CLI prints them at start.
   */
  readonly warnings?: ReadonlyArray<string>
  /**
   * Servers whose app is given in code (`LoadOptions.apps`): their modules were not checked, and a
   * re-read of the file (the master's reload) does not check them either.
   */
  readonly appsInCode?: ReadonlyArray<string>
}
