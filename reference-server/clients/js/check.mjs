// Drives a running reference server with an off-the-shelf client SDK (matrix-js-sdk).
// Usage: npm install && node check.mjs [http://127.0.0.1:8008]
// Exits non-zero at the first step that does not behave as MSC4140 says.
import * as sdk from "matrix-js-sdk";
import { UpdateDelayedEventAction } from "matrix-js-sdk/lib/@types/requests.js";
import { check, register, sleep, startSynced, step, waitFor } from "./common.mjs";

const baseUrl = process.argv[2] ?? "http://127.0.0.1:8008";




const alice = await register(sdk, baseUrl, "alice");
const bob = await register(sdk, baseUrl, "bob");
check(await alice.doesServerSupportUnstableFeature("org.matrix.msc4140"), "versions advertises org.matrix.msc4140");

const { room_id: roomId } = await alice.createRoom({
  name: "call",
  preset: "public_chat",
  power_level_content_override: { events: { "org.matrix.msc3401.call.member": 0 } },
});
check(roomId.startsWith("!"), `created room ${roomId}`);
await bob.joinRoom(roomId);
step("bob joined");
await startSynced(sdk, alice);
await startSynced(sdk, bob);
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
