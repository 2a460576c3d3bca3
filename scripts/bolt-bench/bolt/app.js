// A minimal Bolt app that acks the slash command /h the way chatops does,
// to compare the two ack paths (issue 12). It verifies each request's Slack
// signature, answers with a small JSON message and does nothing else: no
// queue, no disk, no call to Slack. chatops, by contrast, makes a durable
// JetStream enqueue before it acks.
//
//   SLACK_SIGNING_SECRET=… PORT=3000 node app.js
//
// Requests go to http://127.0.0.1:$PORT/slack/events, Bolt's default endpoint.
const { App, LogLevel } = require('@slack/bolt');

const signingSecret = process.env.SLACK_SIGNING_SECRET;
if (!signingSecret) {
  console.error('bolt-bench: set SLACK_SIGNING_SECRET');
  process.exit(2);
}
const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';

const app = new App({
  signingSecret,
  // Bolt calls auth.test when it is given a token; an authorize function
  // (https://docs.slack.dev/tools/bolt-js/concepts/authorization) that knows
  // the bot's ids needs no call to Slack, at start or per request.
  authorize: async () => ({ botToken: 'xoxb-bench', botId: 'B0BENCH', botUserId: 'U0BENCH' }),
  // The default: ack() answers the HTTP request at once, as chatops does.
  processBeforeResponse: false,
  logLevel: LogLevel.WARN,
});

// The same ack as chatops's: the text, and a context block naming who ran
// what. The trigger_id stands in for chatops's job id.
app.command('/h', async ({ command, ack }) => {
  await ack({
    response_type: 'in_channel',
    text: `Running ${command.text}`,
    blocks: [{
      type: 'context',
      elements: [{
        type: 'mrkdwn',
        text: `:hourglass_flowing_sand: <@${command.user_id}> ran \`${command.command} ${command.text}\` · job ${command.trigger_id}`,
      }],
    }],
  });
});

(async () => {
  await app.start({ port, host });
  console.log(`bolt-bench: listening on http://${host}:${port}/slack/events`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    app.stop().finally(() => process.exit(0));
  });
}
