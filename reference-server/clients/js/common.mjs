// What both SDK checks share: reporting, waiting, registering through the m.login.dummy flow and
// starting a synced client. `sdk` is the matrix-js-sdk module the check imported.
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const say = (line) => process.stdout.write(`${line}\n`);
export const step = (what) => say(`ok - ${what}`);

// Exits non-zero at the first step that does not behave as the text says.
export function check(cond, what) {
  if (!cond) {
    process.stderr.write(`FAIL - ${what}\n`);
    process.exit(1);
  }
  step(what);
}

export async function waitFor(cond, ms = 8000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(50);
  }
  return cond();
}

export async function register(sdk, baseUrl, name) {
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

export async function startSynced(sdk, client) {
  const prepared = new Promise((resolve) => client.on(sdk.ClientEvent.Sync, (s) => s === "PREPARED" && resolve()));
  await client.startClient({ initialSyncLimit: 20 });
  await prepared;
}
