/**
 * Optional peers (drivers, tsx) load through one function: a missing package is a typed error
 * naming what to install; any other import failure stays a defect.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { importOptional, MissingPackageError } from "../src/internal/config/optionalPackage.js"
import { ensureLoadable, needsTsx } from "../src/internal/config/typescript.js"

// a name no registry package has, imported through a variable like a driver that is not installed
const missing = "hotaru-rt-no-such-driver"

describe("importOptional", () => {
  it.effect("a missing package fails with the package to install", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(importOptional(missing, "a test backend", () => import(missing)))
      expect(error).toBeInstanceOf(MissingPackageError)
      expect(error.package).toBe(missing)
      expect(error.message).toBe(
        `a test backend needs the package "${missing}", which is not installed: npm install ${missing}`
      )
    })
  )

  it.effect("an installed package loads", () =>
    Effect.gen(function* () {
      const msgpackr = yield* importOptional("msgpackr", "a test", () => import("msgpackr"))
      expect(typeof msgpackr.pack).toBe("function")
    })
  )

  it.effect("a failure inside an installed package is a defect, not a missing package", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        importOptional("msgpackr", "a test", () => Promise.reject(new SyntaxError("Unexpected token")))
      )
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    })
  )
})

describe("TypeScript app modules", () => {
  it("need tsx only for TypeScript files on Node", () => {
    expect(needsTsx("/app/game.ts")).toBe(true)
    expect(needsTsx("/app/game.mts?reload=2")).toBe(true)
    expect(needsTsx("/app/game.js")).toBe(false)
  })

  it.effect("a JavaScript module needs no loader", () => ensureLoadable("/app/game.js"))
})
