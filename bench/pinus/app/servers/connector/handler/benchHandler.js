// connector.benchHandler.{echo, forward, join, fanout}: the bench workloads on Pinus.
class BenchHandler {
  constructor(app) {
    this.app = app
    this.uids = 0
  }

  /** W1: answer the body as it came. */
  async echo(msg) {
    return msg
  }

  /** W2: ask game-server-1 over Pinus RPC to echo it (client -> connector -> game and back). */
  async forward(msg, session) {
    return this.app.rpc.game.echoRemote.echo.route(session)(msg)
  }

  /** W3 set-up: bind a uid to the session and add it to the `fanout` channel. */
  async join(_msg, session) {
    const uid = `u${++this.uids}`
    await session.abind(uid)
    const serverId = this.app.getServerId()
    const channel = this.app.get("channelService").getChannel("fanout", true)
    channel.add(uid, serverId)
    session.on("closed", () => channel.leave(uid, serverId))
    return { code: 200, uid }
  }

  /** W3 trigger (a notify): push the body to every member of the channel. */
  async fanout(msg) {
    const channel = this.app.get("channelService").getChannel("fanout", false)
    if (channel) channel.pushMessage("onPush", msg)
  }
}

module.exports.default = (app) => new BenchHandler(app)
