/**
 * Files only this user may read: the admin token file a master writes beside its config (and the
 * CLI reads), created exclusively with mode 0600, never through a symlink (an existing one is used
 * only if it is a regular file of this user that nobody else can read); and the master's config
 * snapshot, written the same way and renamed into place.
 *
 * @since 0.1.0
 */
import { constants } from "node:fs"
import { lstat, open, rename, unlink } from "node:fs/promises"
import { Data, Effect } from "effect"

/** A token file that cannot be used safely. */
export class TokenFileError extends Data.TaggedError("TokenFileError")<{
  readonly reason: "Missing" | "Symlink" | "NotAFile" | "Permissions" | "Owner" | "Empty" | "Io"
  readonly file: string
  readonly message: string
}> {}

const code = (e: unknown): string | undefined =>
  typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`

/** Checks an existing token file: regular, not a symlink, ours, mode without group/other bits. */
const check = (file: string) =>
  Effect.tryPromise({
    try: () => lstat(file),
    catch: (e) =>
      new TokenFileError({
        reason: code(e) === "ENOENT" ? "Missing" : "Io",
        file,
        message: `cannot read the admin token file ${file}: ${(e as Error).message}`
      })
  }).pipe(
    Effect.flatMap((stat) => {
      if (stat.isSymbolicLink()) {
        return Effect.fail(
          new TokenFileError({
            reason: "Symlink",
            file,
            message: `the admin token file ${file} is a symlink: refused (remove it; the master creates a new one)`
          })
        )
      }
      if (!stat.isFile()) {
        return Effect.fail(
          new TokenFileError({
            reason: "NotAFile",
            file,
            message: `the admin token file ${file} is not a regular file: refused`
          })
        )
      }
      if (typeof process.getuid === "function" && stat.uid !== process.getuid()) {
        return Effect.fail(
          new TokenFileError({
            reason: "Owner",
            file,
            message: `the admin token file ${file} belongs to another user (uid ${stat.uid}): refused`
          })
        )
      }
      if ((stat.mode & 0o077) !== 0) {
        return Effect.fail(
          new TokenFileError({
            reason: "Permissions",
            file,
            message: `the admin token file ${file} is readable by others (mode ${octal(stat.mode)}): run \`chmod 600 ${file}\``
          })
        )
      }
      return Effect.void
    })
  )

/** Reads a token file after {@link check}, opening it without following a symlink. */
export const read = (file: string): Effect.Effect<string, TokenFileError> =>
  Effect.zipRight(
    check(file),
    Effect.tryPromise({
      try: async () => {
        const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW)
        try {
          return (await handle.readFile({ encoding: "utf8" })).trim()
        } finally {
          await handle.close()
        }
      },
      catch: (e) =>
        new TokenFileError({
          reason: code(e) === "ELOOP" ? "Symlink" : "Io",
          file,
          message: `cannot read the admin token file ${file}: ${(e as Error).message}`
        })
    })
  ).pipe(
    Effect.filterOrFail(
      (token) => token !== "",
      () => new TokenFileError({ reason: "Empty", file, message: `the admin token file ${file} is empty` })
    )
  )

/**
 * The token of a master: the one in `file` if it exists (checked as in {@link read}), else
 * `generate()` written to a new `file` (exclusive create, mode 0600, no symlink followed).
 * `created` tells whether this call wrote the file (the master removes it when it stops).
 */
export const ensure = (
  file: string,
  generate: () => string
): Effect.Effect<{ readonly token: string; readonly created: boolean }, TokenFileError> =>
  Effect.tryPromise({
    try: async () => {
      const token = generate()
      const handle = await open(
        file,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600
      )
      try {
        await handle.writeFile(`${token}\n`)
      } finally {
        await handle.close()
      }
      return { token, created: true }
    },
    catch: (e) => e
  }).pipe(
    Effect.catchAll((e) =>
      code(e) === "EEXIST"
        ? Effect.map(read(file), (token) => ({ token, created: false }))
        : Effect.fail(
            new TokenFileError({
              reason: code(e) === "ELOOP" ? "Symlink" : "Io",
              file,
              message: `cannot create the admin token file ${file}: ${(e as Error).message}`
            })
          )
    )
  )

/**
 * Writes `text` to `file` readable by this user only: a fresh `file.tmp` (exclusive create, mode
 * 0600, no symlink followed), then renamed over `file` (a symlink there is replaced, not followed).
 */
export const writePrivate = (file: string, text: string): Effect.Effect<void, TokenFileError> =>
  Effect.tryPromise({
    try: async () => {
      const temp = `${file}.tmp`
      await unlink(temp).catch(() => undefined)
      const handle = await open(
        temp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o600
      )
      try {
        await handle.writeFile(text)
      } finally {
        await handle.close()
      }
      await rename(temp, file)
    },
    catch: (e) =>
      new TokenFileError({ reason: "Io", file, message: `cannot write ${file}: ${(e as Error).message}` })
  })
