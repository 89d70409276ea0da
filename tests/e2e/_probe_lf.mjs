import { openPage, waitText, pageServerAndBrowser } from "/work/main/tests/e2e/harness.mjs";
import { test } from "node:test";
const env = pageServerAndBrowser();
test("p", async () => {
  const page = await openPage(env.browser, env.server.url, { width: 1366, height: 900 });
  page.on("console", (m) => console.log("console:", m.text()));
  await page.selectOption("#model-select", "vgg16-conv-base");
  await waitText(page, "#model-status", /Loaded VGG16 convolutional base/, 120_000);
  await page.click("#samples-photo .sample >> nth=0");
  await waitText(page, "#result-status", /for Chelsea/);
  await page.locator("#network .layer .thumb").first().waitFor({ timeout: 120_000 });
  const col = page.locator("#network .layer", { has: page.locator("h3", { hasText: /^conv5_3$/ }) });
  await col.locator(".thumb").first().click();
  await page.locator("#inspector-canvas").waitFor();
  await page.click("#looks-for-run");
  for (let i = 0; i < 12; i++) {
    await new Promise((r) => setTimeout(r, 5000));
    console.log(i, await page.locator("#looks-for-status").textContent(), "|", await page.locator("#looks-for-caption").textContent(), "|", await page.locator("#patches .patch").count());
  }
  await page.close();
});
