# Container image of syncbn and its examples (used by examples/k8s/syncbn-job.yaml). Build: docker build -t syncbn:0.1.0 .
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install without the prepare script (it builds, and the sources are not copied yet).
RUN npm ci --ignore-scripts
COPY . .
RUN npm run build

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
# Ranks are started by the orchestrator (Kubernetes, Slurm, mpirun) with their command; this is only a default.
CMD ["node", "dist/examples/train-syncbn.js", "--steps", "20"]
