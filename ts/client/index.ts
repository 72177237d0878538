export { type BackgroundSave, type ClipTrainArgs, type JobOptions, type KMeansResult, type TrainArgs, type TrainOptions, type TrainPlan, WorkerJobs } from "./jobs.js";
