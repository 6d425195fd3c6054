#!/usr/bin/env node
// The hotaru CLI. Registers tsx in this process (one process: signals reach the program itself)
// so the TypeScript sources and the user's TypeScript app modules load as they are.
import { register } from "tsx/esm/api"

register()
const { main } = await import("../src/Cli.ts")
main(process.argv)
