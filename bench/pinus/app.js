// The bench's Pinus app: the peer hotaru's W1/W2/W3/W4 numbers are compared with.
// `npm run bench -- --peers pinus` installs Pinus into its cache directory, copies this folder
// beside it, writes config/master.json and config/servers.json (free ports), and starts
// `node app.js env=production` there. Processes:
//   master-server-1     spawns the two below (detached, stdout inherited)
//   connector-server-1  frontend: hybridconnector (plain TCP, JSON bodies, no dictionary or
//                       protobuf, heartbeat 10 s); routes connector.benchHandler.*
//   game-server-1       backend: remote game.echoRemote.echo (the 2-hop forward)
// Each server prints `PINUS READY server=ID pid=PID` once started.
require("reflect-metadata") // pinus-loader uses Reflect.hasMetadata
const { pinus } = require("pinus")

const app = pinus.createApp()
app.set("name", "hotaru-bench")

app.configure("production|development", "connector", () => {
  app.set("connectorConfig", {
    connector: pinus.connectors.hybridconnector,
    heartbeat: 10,
    useDict: false,
    useProtobuf: false,
    // listen on the configured clientHost (127.0.0.1) only
    distinctHost: true
  })
})

process.on("uncaughtException", (e) => console.error(app.getServerId(), "uncaughtException", e))
process.on("unhandledRejection", (e) => console.error(app.getServerId(), "unhandledRejection", e))

app.start(() => {
  process.stdout.write(`PINUS READY server=${app.getServerId()} pid=${process.pid}\n`)
})
