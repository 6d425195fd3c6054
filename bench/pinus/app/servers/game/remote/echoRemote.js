// game.echoRemote.echo: the backend end of the W2 forward; returns its argument.
class EchoRemote {
  async echo(msg) {
    return msg
  }
}

module.exports.default = () => new EchoRemote()
