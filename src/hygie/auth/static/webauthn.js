// WebAuthn ceremonies of the Hygie login pages (no inline script: the pages' CSP forbids it).
"use strict";
(function () {
  function b64uToBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function bufToB64u(buf) {
    const bytes = new Uint8Array(buf);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error_description || data.error || "Échec");
    return data;
  }
  const status = document.getElementById("webauthn-status");
  const login = document.getElementById("webauthn-login");
  if (login) {
    login.addEventListener("click", async function () {
      try {
        const base = { rid: login.dataset.rid, csrf: login.dataset.csrf };
        const opts = await post("/auth/webauthn/options", base);
        opts.challenge = b64uToBuf(opts.challenge);
        for (const c of opts.allowCredentials || []) c.id = b64uToBuf(c.id);
        const cred = await navigator.credentials.get({ publicKey: opts });
        const r = cred.response;
        const done = await post("/auth/webauthn/verify", Object.assign(base, { credential: {
          id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: bufToB64u(r.clientDataJSON),
            authenticatorData: bufToB64u(r.authenticatorData),
            signature: bufToB64u(r.signature),
            userHandle: r.userHandle ? bufToB64u(r.userHandle) : null,
          },
          clientExtensionResults: {},
        } }));
        window.location.assign(done.redirect);
      } catch (e) {
        status.textContent = "Échec de l’authentification par clé : " + e.message;
      }
    });
  }
  const register = document.getElementById("webauthn-register");
  if (register) {
    register.addEventListener("click", async function () {
      try {
        const base = { csrf: register.dataset.csrf };
        const opts = await post("/auth/account/webauthn/options", base);
        opts.challenge = b64uToBuf(opts.challenge);
        opts.user.id = b64uToBuf(opts.user.id);
        for (const c of opts.excludeCredentials || []) c.id = b64uToBuf(c.id);
        const cred = await navigator.credentials.create({ publicKey: opts });
        const r = cred.response;
        const done = await post("/auth/account/webauthn/verify", Object.assign(base, { credential: {
          id: cred.id, rawId: bufToB64u(cred.rawId), type: cred.type,
          response: {
            clientDataJSON: bufToB64u(r.clientDataJSON),
            attestationObject: bufToB64u(r.attestationObject),
            transports: r.getTransports ? r.getTransports() : [],
          },
          clientExtensionResults: {},
        } }));
        document.getElementById("webauthn-count").textContent = String(done.credentials);
        status.textContent = "Clé de sécurité enregistrée.";
      } catch (e) {
        status.textContent = "Échec de l’enregistrement : " + e.message;
      }
    });
  }
})();
