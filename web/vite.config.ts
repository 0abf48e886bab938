import { defineConfig } from "vite";

// A static site: index.html, one script and one stylesheet with hashed names, and nothing
// fetched from elsewhere at run time. config.json is not part of the build: it is written
// beside index.html by whoever serves the site (the local gallery server, or the stack).
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No inline scripts or styles, so the content security policy can say 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
