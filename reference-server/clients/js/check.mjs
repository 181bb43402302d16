// Drives a running reference server with an off-the-shelf client SDK (matrix-js-sdk).
// Usage: npm install && node check.mjs [http://127.0.0.1:8008]
// Exits non-zero at the first step that does not behave as MSC4140 says.
import * as sdk from "matrix-js-sdk";
import { UpdateDelayedEventAction } from "matrix-js-sdk/lib/@types/requests.js";

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8008";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const step = (what) => console.log(`ok - ${what}`);
function check(cond, what) {
  if (!cond) {
    console.error(`FAIL - ${what}`);
    process.exit(1);
  }
  step(what);
}

async function register(name) {
  const anon = sdk.createClient({ baseUrl });
  const username = `${name}${Date.now()}`;
  let session;
  try {
    await anon.registerRequest({ username, password: "pw" });
  } catch (e) {
    check(e.httpStatus === 401 && e.data?.flows?.[0]?.stages?.[0] === "m.login.dummy", `${name}: register answers 401 with the dummy flow`);
    session = e.data.session;
  }
  const r = await anon.registerRequest({ username, password: "pw", auth: { type: "m.login.dummy", session } });
  check(r.access_token && r.user_id, `${name}: registered as ${r.user_id}`);
  return sdk.createClient({ baseUrl, accessToken: r.access_token, userId: r.user_id, deviceId: r.device_id });
}

async function startSynced(client) {
  const prepared = new Promise((resolve) =>
    client.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve()),
  );
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
}

async function waitFor(cond, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(50);
  }
  return cond();
}

const alice = await register("alice");
const bob = await register("bob");
check(await alice.doesServerSupportUnstableFeature("org.matrix.msc4140"), "versions advertises org.matrix.msc4140");

const { room_id: roomId } = await alice.createRoom({
  name: "call",
  preset: "public_chat",
  power_level_content_override: { events: { "org.matrix.msc3401.call.member": 0 } },
});
check(roomId.startsWith("!"), `created room ${roomId}`);
await bob.joinRoom(roomId);
step("bob joined");
await startSynced(alice);
await startSynced(bob);
check(alice.getRoom(roomId)?.name === "call", "alice's sync shows the room and its name");

// A MatrixRTC-style hang-up: a delayed state event restarted as a heartbeat.
const type = "org.matrix.msc3401.call.member";
const key = `_${alice.getUserId()}_DEV`;
const { delay_id: hangup } = await alice._unstable_sendDelayedStateEvent(roomId, { delay: 1500 }, type, {}, key);
check(typeof hangup === "string", `scheduled a delayed state event: ${hangup}`);
const listed = await alice._unstable_getDelayedEvents();
const item = (listed.delayed_events ?? listed.scheduled ?? []).find((d) => d.delay_id === hangup);
check(item?.delay === 1500 && item?.state_key === key, "the delayed event is listed with its delay and state key");
for (let i = 0; i < 4; i++) {
  await sleep(700);
  await alice._unstable_updateDelayedEvent(hangup, UpdateDelayedEventAction.Restart);
}
check(!alice.getRoom(roomId).currentState.getStateEvents(type, key), "heartbeats kept it from being sent (2.8 s > 1.5 s)");
check(
  await waitFor(() => bob.getRoom(roomId)?.currentState.getStateEvents(type, key)),
  "after the heartbeats stop, bob's sync receives the hang-up",
);
try {
  await alice._unstable_updateDelayedEvent(hangup, UpdateDelayedEventAction.Restart);
  check(false, "restart after sending is refused");
} catch (e) {
  check(e.httpStatus === 409, "restart after sending answers 409");
}

// Messages: send now, cancel.
const { delay_id: later } = await alice._unstable_sendDelayedEvent(roomId, { delay: 60000 }, null, "m.room.message", { msgtype: "m.text", body: "later" });
await alice._unstable_updateDelayedEvent(later, UpdateDelayedEventAction.Send);
check(
  await waitFor(() => bob.getRoom(roomId)?.getLiveTimeline().getEvents().some((e) => e.getContent().body === "later")),
  "the send action delivered the message to bob",
);
const { delay_id: never } = await alice._unstable_sendDelayedEvent(roomId, { delay: 300 }, null, "m.room.message", { msgtype: "m.text", body: "never" });
await alice._unstable_updateDelayedEvent(never, UpdateDelayedEventAction.Cancel);
await sleep(800);
check(!bob.getRoom(roomId).getLiveTimeline().getEvents().some((e) => e.getContent().body === "never"), "a cancelled message is never sent");
try {
  await bob._unstable_updateDelayedEvent(later, UpdateDelayedEventAction.Cancel);
  check(false, "bob cannot manage alice's event");
} catch (e) {
  check(e.httpStatus === 404 && e.errcode === "M_NOT_FOUND", "bob managing alice's event gets 404 M_NOT_FOUND");
}
const remaining = await alice._unstable_getDelayedEvents();
check((remaining.delayed_events ?? remaining.scheduled ?? []).length === 0, "nothing left scheduled");

alice.stopClient();
bob.stopClient();
console.log("matrix-js-sdk check passed");
process.exit(0);
