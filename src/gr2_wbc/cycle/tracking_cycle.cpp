// The 200 Hz tracking cycle of gr2_wbc, compiled: everything between "joint state in" and
// "OSQP's data out" (kinematics, manipulability and its gradient, the joint box, collision
// distances and their Jacobian rows, the QP's P, q, A, l, u). ROS-free.
//
// Why C++: the same cycle in Python (numba kernels between Pinocchio/coal calls) spent ~400 of
// its ~500 us in interpreter overhead around microseconds of real work (a one-off profile,
// session 4), and after the loop's 4 ms sleep that doubled, so p99 missed the 1 ms budget
// (bench-wbc, sessions 2-3). Here it is one call into Pinocchio's and coal's own C++.
//
// It works on the *same* Pinocchio Model/Data and GeometryModel/GeometryData objects that
// gr2_wbc.robot_model builds in Python (boost.python hands over the C++ objects), so there is
// one robot model, built once from the URDF; the module must therefore be compiled against the
// Pinocchio that Python imports (setup.py takes its prefix from pinocchio.__file__).

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <boost/python.hpp>
#include <eigenpy/eigenpy.hpp>
#include <pinocchio/algorithm/frames.hpp>
#include <pinocchio/algorithm/geometry.hpp>
#include <pinocchio/algorithm/jacobian.hpp>
#include <pinocchio/collision/distance.hpp>
#include <pinocchio/multibody/data.hpp>
#include <pinocchio/multibody/geometry.hpp>
#include <pinocchio/multibody/model.hpp>
#include <pinocchio/spatial/explog.hpp>

namespace bp = boost::python;
using pinocchio::Data;
using pinocchio::GeometryData;
using pinocchio::GeometryModel;
using pinocchio::Model;

namespace {

constexpr int kDof = 7;
using Vec7 = Eigen::Matrix<double, kDof, 1>;
using Jac6 = Eigen::Matrix<double, 6, kDof>;
using RowRef = Eigen::Ref<Eigen::VectorXd>;
using ConstRef = Eigen::Ref<const Eigen::VectorXd>;

// Yoshikawa m = sqrt(det(J J^T)) and dm/dq for a revolute serial chain, O(n) without the
// Jacobian-derivative tensor. With B = (J J^T)^-1 J, a_i the joint axes and Jl_i the linear
// TCP columns: dm/dq_k = m (a_k . sum_{i>=k} v_i + Jl_k . sum_{i<k} w_i),
// v_i = a_i x B_ang,i - B_lin,i x Jl_i,  w_i = B_lin,i x a_i.
double manipulability_of(const Jac6& J, Vec7& grad) {
  const Eigen::Matrix<double, 6, 6> JJt = J * J.transpose();
  Eigen::LLT<Eigen::Matrix<double, 6, 6>> llt(JJt);
  const Eigen::Matrix<double, 6, 1> L_diag = llt.matrixL().toDenseMatrix().diagonal();
  if (llt.info() != Eigen::Success || L_diag.minCoeff() <= 1e-15) {   // singular: no gradient to climb
    grad.setZero();
    return 0.0;
  }
  const double m = L_diag.prod();   // sqrt(det(J J^T)) = product of the Cholesky diagonal
  const Jac6 B = llt.solve(J);
  Eigen::Vector3d v_suffix = Eigen::Vector3d::Zero(), w_prefix = Eigen::Vector3d::Zero();
  Eigen::Matrix<double, 3, kDof> v, w;
  for (int i = 0; i < kDof; ++i) {
    const Eigen::Vector3d a = J.col(i).tail<3>(), l = J.col(i).head<3>();
    const Eigen::Vector3d bl = B.col(i).head<3>(), ba = B.col(i).tail<3>();
    v.col(i) = a.cross(ba) - bl.cross(l);
    w.col(i) = bl.cross(a);
  }
  for (int k = kDof - 1; k >= 0; --k) {
    v_suffix += v.col(k);
    grad[k] = J.col(k).tail<3>().dot(v_suffix);
  }
  for (int k = 0; k < kDof; ++k) {
    grad[k] = m * (grad[k] + J.col(k).head<3>().dot(w_prefix));
    w_prefix += w.col(k);
  }
  return m;
}

template <typename T>
T& extract_ref(const bp::object& obj, const char* what) {
  bp::extract<T&> ref(obj);
  if (!ref.check()) {
    PyErr_SetString(PyExc_TypeError, what);
    bp::throw_error_already_set();
  }
  return ref();
}

template <typename Vector>
Vector checked(const Eigen::VectorXd& v, const char* what) {
  if (v.size() != Vector::RowsAtCompileTime) {
    PyErr_SetString(PyExc_ValueError, what);
    bp::throw_error_already_set();
  }
  return v;
}

}  // namespace

// One checked pair's exact distance and the row that maps joint velocity to its rate of change.
struct Proximity {
  int pair;
  double distance;
  Vec7 row;
  Eigen::Vector3d point_a, point_b;
};

// Distances between the robot's collision bodies and the obstacle boxes, on the geometry model
// robot_model builds (bodies first, then obstacles). Bounding spheres give a cheap lower bound
// for every pair; coal's GJK (through Pinocchio's geometry model) the exact distance and
// witness points for pairs that may be close.
class CollisionChecker {
 public:
  CollisionChecker(bp::object model, bp::object data, bp::object geom_model, bp::object geom_data,
                   const Eigen::VectorXd& radius, const Eigen::VectorXi& pair_a, const Eigen::VectorXi& pair_b,
                   const Eigen::VectorXi& joint_a, const Eigen::VectorXi& joint_b,
                   const Eigen::MatrixXd& box_center, const Eigen::MatrixXd& box_half)
      : owners_{model, data, geom_model, geom_data},
        model_(extract_ref<const Model>(model, "model must be a pinocchio.Model")),
        data_(extract_ref<Data>(data, "data must be a pinocchio.Data")),
        gmodel_(extract_ref<const GeometryModel>(geom_model, "geom_model must be a pinocchio.GeometryModel")),
        gdata_(extract_ref<GeometryData>(geom_data, "geom_data must be a pinocchio.GeometryData")),
        radius_(radius), pair_a_(pair_a), pair_b_(pair_b), joint_a_(joint_a), joint_b_(joint_b),
        box_c_(box_center), box_h_(box_half), gaps_(pair_a.size()) {
    const auto pairs = static_cast<Eigen::Index>(gmodel_.collisionPairs.size());
    if (pair_b.size() != pairs || pair_a.size() != pairs || joint_a.size() != pairs || joint_b.size() != pairs) {
      PyErr_SetString(PyExc_ValueError, "pair arrays must have one entry per collision pair of geom_model");
      bp::throw_error_already_set();
    }
    if (box_center.rows() != box_half.rows() || (box_center.size() && box_center.cols() != 3)) {
      PyErr_SetString(PyExc_ValueError, "box_center and box_half must be (n, 3)");
      bp::throw_error_already_set();
    }
  }

  // Pairs whose distance is below `influence` (exact, with Jacobian rows); `gaps_` holds every
  // pair's distance afterwards (exact where computed, else the sphere lower bound). Uses the
  // kinematics of the latest computeJointJacobians on `data`.
  const std::vector<Proximity>& update(double influence) {
    pinocchio::updateGeometryPlacements(model_, data_, gmodel_, gdata_);
    for (Eigen::Index k = 0; k < pair_a_.size(); ++k) {
      const Eigen::Vector3d ca = gdata_.oMg[pair_a_[k]].translation();
      if (pair_b_[k] >= 0) {
        gaps_[k] = (ca - gdata_.oMg[pair_b_[k]].translation()).norm() - radius_[pair_a_[k]] - radius_[pair_b_[k]];
      } else {
        const int o = -1 - pair_b_[k];
        const Eigen::Vector3d outside =
            ((ca - box_c_.row(o).transpose()).cwiseAbs() - box_h_.row(o).transpose()).cwiseMax(0.0);
        gaps_[k] = outside.norm() - radius_[pair_a_[k]];
      }
    }
    close_.clear();
    for (Eigen::Index k = 0; k < pair_a_.size(); ++k) {
      if (!(gaps_[k] < influence)) continue;
      const coal::DistanceResult& res = pinocchio::computeDistance(gmodel_, gdata_, static_cast<std::size_t>(k));
      gaps_[k] = res.min_distance;
      if (!(res.min_distance < influence)) continue;
      Proximity p{static_cast<int>(k), res.min_distance, Vec7::Zero(), res.nearest_points[0], res.nearest_points[1]};
      add_point_row(joint_a_[k], p.point_a, res.normal, -1.0, p.row);
      add_point_row(joint_b_[k], p.point_b, res.normal, 1.0, p.row);   // joint 0 (obstacle): no columns
      close_.push_back(p);
    }
    return close_;
  }

  double min_distance() const {
    return gaps_.size() ? gaps_.minCoeff() : std::numeric_limits<double>::infinity();
  }
  const Eigen::VectorXd& gaps() const { return gaps_; }
  const Model& model() const { return model_; }
  Data& data() { return data_; }

  // Python: (distances, [(pair, distance, row, point_a, point_b), ...]).
  bp::tuple py_proximities(double influence) {
    bp::list close;
    for (const Proximity& p : update(influence)) {
      close.append(bp::make_tuple(p.pair, p.distance, Eigen::VectorXd(p.row), Eigen::VectorXd(p.point_a),
                                  Eigen::VectorXd(p.point_b)));
    }
    return bp::make_tuple(Eigen::VectorXd(gaps_), close);
  }

 private:
  // row += sign * normal . J_point, J_point the linear Jacobian of a point fixed to the link of
  // `joint`: column i < joint is (spatial linear column i) + axis_i x point.
  void add_point_row(int joint, const Eigen::Vector3d& point, const Eigen::Vector3d& normal, double sign,
                     Vec7& row) const {
    const Eigen::Vector3d pxn = point.cross(normal);
    for (int i = 0; i < joint; ++i) {
      row[i] += sign * (normal.dot(data_.J.col(i).head<3>()) + pxn.dot(data_.J.col(i).tail<3>()));
    }
  }

  bp::object owners_[4];   // keep the Python objects whose C++ parts are referenced below alive
  const Model& model_;
  Data& data_;
  const GeometryModel& gmodel_;
  GeometryData& gdata_;
  Eigen::VectorXd radius_;
  Eigen::VectorXi pair_a_, pair_b_, joint_a_, joint_b_;
  Eigen::MatrixXd box_c_, box_h_;
  Eigen::VectorXd gaps_;
  std::vector<Proximity> close_;
};

// Everything of TrackingConfig and the robot's limits the cycle needs. No defaults of its own:
// tracking_qp fills every field from TrackingConfig and the robot model (one source for each
// value), and TrackingCycle refuses a config whose fields were left unset.
struct CycleConfig {
  int tcp_frame = -1;
  double dt = 0.0;
  double position_gain = 0.0, orientation_gain = 0.0, damping = 0.0;
  double manipulability_weight = 0.0, manipulability_floor = 0.0, manipulability_min = 0.0;
  double manipulability_gain = 0.0;
  double collision_influence = 0.0, collision_speed = 0.0;
  int max_collision_rows = 0;
  double reach_backoff = 0.0;
  Eigen::VectorXd task_weight;      // (x, y, z, rx, ry, rz)
  Eigen::VectorXd velocity_limit, acceleration_limit;
  Eigen::VectorXd lower, upper;     // position limits minus the margin, +-inf for continuous joints
  Eigen::VectorXd pair_margin;      // per collision pair
};

constexpr double kOsqpInfinity = 1e30;

// The QP's terms, one struct each, in pink's vocabulary: tasks add to the cost (P, q), limits
// and barriers own constraint rows (A, l, u). TrackingCycle::fill computes the kinematics they
// share once and lets each term write its own part.
using Mat7 = Eigen::Matrix<double, kDof, kDof>;
using Twist = Eigen::Matrix<double, 6, 1>;

// Frame task: ||J qd - v_des||_W^2 with v_des = scale (twist_ff + gain * pose error).
struct FrameTask {
  double position_gain, orientation_gain;
  Twist weight;   // (x, y, z, rx, ry, rz)

  Twist desired_velocity(const Twist& twist_ff, const Eigen::Vector3d& e_pos, const Eigen::Vector3d& e_rot,
                         double scale) const {
    Twist v_des = twist_ff;
    v_des.head<3>() += position_gain * e_pos;
    v_des.tail<3>() += orientation_gain * e_rot;
    v_des *= scale;
    return v_des;
  }
  // P = J^T W J, q = -J^T W v_des (overwrites: the first term of the cost).
  void set_cost(const Jac6& J, const Twist& v_des, Mat7& P, Eigen::Map<Vec7>& q_lin) const {
    const Jac6 WJ = weight.asDiagonal() * J;
    P = J.transpose() * WJ;
    q_lin = -(WJ.transpose() * v_des);
  }
};

// Regularisation: damping ||qd||^2.
struct Regularisation {
  double damping;
  void add_cost(Mat7& P) const { P.diagonal().array() += damping; }
};

// Manipulability: the secondary task -weight grad(m).qd, the barrier row
// grad(m).qd >= -gain (m - min), and the frame task's scale near singularities.
struct Manipulability {
  double weight, floor, min, gain;

  double task_scale(double m) const { return std::clamp((m - min) / (floor - min), 0.1, 1.0); }
  void add_cost(const Vec7& grad, bool secondary, Eigen::Map<Vec7>& q_lin) const {
    const double w_m = secondary ? weight : 0.0;
    q_lin -= w_m * grad;
  }
  void set_row(double m, const Vec7& grad, Eigen::Map<Eigen::MatrixXd>& A, int row, Eigen::Map<Eigen::VectorXd>& l) const {
    A.row(row) = grad.transpose();
    l[row] = -gain * (m - min);
  }
};

// Collision barrier: velocity dampers on close pairs. The approach speed shrinks linearly to
// zero at the margin; below the margin the gap must open again. The closest pairs (relative to
// their margin) get the rows, at most max_rows.
struct CollisionBarrier {
  double influence, speed;
  int max_rows;
  Eigen::VectorXd pair_margin;   // per collision pair
  mutable std::vector<int> order;

  int set_rows(const std::vector<Proximity>& close, Eigen::Map<Eigen::MatrixXd>& A, int first_row,
               Eigen::Map<Eigen::VectorXd>& l) const {
    order.resize(close.size());
    for (std::size_t i = 0; i < close.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return close[a].distance - pair_margin[close[a].pair] < close[b].distance - pair_margin[close[b].pair];
    });
    const int n_close = std::min<int>(static_cast<int>(close.size()), max_rows);
    for (int i = 0; i < n_close; ++i) {
      const Proximity& p = close[order[i]];
      const double margin = pair_margin[p.pair];
      A.row(first_row + i) = p.row.transpose();
      l[first_row + i] = -speed * (p.distance - margin) / (influence - margin);
    }
    return n_close;
  }
};

// A barrier row the joint box cannot satisfy this cycle (the arm entered a damper's zone faster
// than the damper allows, as an untrained policy's chunks do) would make the whole QP
// infeasible, and the fallback does not look at collisions: in a demo run an arm braked through
// 40 mm into the table that way and stayed there. Such a row asks instead for (almost) the most
// the box allows: braking as hard as the limits permit. `backoff` is the fraction of the row's
// range over the box left free.
void cut_rows_to_box_reach(const Eigen::Map<Eigen::MatrixXd>& A, int first, int end, double backoff,
                           Eigen::Map<Eigen::VectorXd>& l, const Eigen::Map<Eigen::VectorXd>& u) {
  for (int r = first; r < end; ++r) {
    double reach_hi = 0.0, reach_lo = 0.0;
    for (int c = 0; c < kDof; ++c) {
      const double a = A(r, c) * l[c], b = A(r, c) * u[c];
      reach_hi += std::max(a, b);
      reach_lo += std::min(a, b);
    }
    l[r] = std::min(l[r], reach_hi - backoff * (reach_hi - reach_lo));
  }
}

// Fills OSQP's data for one cycle (see tracking_qp.py for the problem):
//   min ||J qd - v_des||_W^2 + damping ||qd||^2 - w_m grad(m).qd
//   s.t. joint box, manipulability floor, velocity dampers on close pairs.
class TrackingCycle {
 public:
  // The output arrays (numpy, float64, contiguous) are bound once: each cycle then passes only
  // its inputs, and the Python side hands the same arrays to OSQP.
  TrackingCycle(CollisionChecker& checker, const CycleConfig& cfg, bp::object P_x, bp::object q_lin,
                bp::object A_x, bp::object l, bp::object u, bp::object info)
      : checker_(checker), cfg_(cfg), buffers_{P_x, q_lin, A_x, l, u, info} {
    const Model& model = checker.model();
    if (model.nv != kDof) {
      PyErr_SetString(PyExc_ValueError, "the tracking cycle is written for a 7-dof arm");
      bp::throw_error_already_set();
    }
    vmax_ = checked<Vec7>(cfg.velocity_limit, "velocity_limit must have 7 entries");
    amax_ = checked<Vec7>(cfg.acceleration_limit, "acceleration_limit must have 7 entries");
    lower_ = checked<Vec7>(cfg.lower, "lower must have 7 entries");
    upper_ = checked<Vec7>(cfg.upper, "upper must have 7 entries");
    frame_task_ = FrameTask{cfg.position_gain, cfg.orientation_gain,
                            checked<Twist>(cfg.task_weight, "task_weight must have 6 entries")};
    regularisation_ = Regularisation{cfg.damping};
    manipulability_ = Manipulability{cfg.manipulability_weight, cfg.manipulability_floor, cfg.manipulability_min,
                                     cfg.manipulability_gain};
    collision_ = CollisionBarrier{cfg.collision_influence, cfg.collision_speed, cfg.max_collision_rows,
                                  cfg.pair_margin, {}};
    if (cfg.pair_margin.size() != checker.gaps().size()) {
      PyErr_SetString(PyExc_ValueError, "pair_margin must have one entry per collision pair");
      bp::throw_error_already_set();
    }
    if (!(cfg.dt > 0.0) || !(cfg.manipulability_floor > cfg.manipulability_min) ||
        (cfg.pair_margin.size() && !(cfg.collision_influence > cfg.pair_margin.maxCoeff())) || cfg.max_collision_rows < 0) {
      PyErr_SetString(PyExc_ValueError, "CycleConfig: dt must be > 0, manipulability_floor > manipulability_min, "
                                        "collision_influence > every pair margin, max_collision_rows >= 0");
      bp::throw_error_already_set();
    }
    if (cfg.tcp_frame < 0 || cfg.tcp_frame >= model.nframes) {
      PyErr_SetString(PyExc_ValueError, "tcp_frame is not a frame of the model");
      bp::throw_error_already_set();
    }
    for (int k = 0; k < kDof; ++k) {
      idx_q_[k] = model.joints[k + 1].idx_q();
      continuous_[k] = model.joints[k + 1].nq() == 2;
    }
    qpin_.resize(model.nq);
    rows_ = kDof + 1 + cfg.max_collision_rows;
    const Eigen::Index sizes[6] = {28, kDof, rows_ * kDof, rows_, rows_, 6};
    for (int i = 0; i < 6; ++i) out_[i] = bound_array(buffers_[i], sizes[i]);
  }

  int n_rows() const { return rows_; }

  // One cycle from the commanded state (q, qd_prev) towards `target` moving at `twist_ff`.
  // Writes P (upper triangle, column by column: OSQP's CSC order), q, A (dense, column-major),
  // l, u and info = (manipulability, min distance, |position error|, |orientation error|,
  // task scale, collision rows) into the bound arrays; returns the number of collision rows.
  int fill(const ConstRef& q_in, const ConstRef& qd_in, const pinocchio::SE3& target, const ConstRef& twist_in,
           bool secondary) {
    if (q_in.size() != kDof || qd_in.size() != kDof || twist_in.size() != 6) {
      PyErr_SetString(PyExc_ValueError, "TrackingCycle.fill: q and qd_prev must have 7 entries, twist_ff 6");
      bp::throw_error_already_set();
    }
    Eigen::Map<Eigen::Matrix<double, 28, 1>> P_upper(out_[0]);
    Eigen::Map<Vec7> q_lin(out_[1]);
    Eigen::Map<Eigen::VectorXd> l(out_[3], rows_), u(out_[4], rows_), info(out_[5], 6);
    const Vec7 q = q_in, qd_prev = qd_in;
    const Model& model = checker_.model();
    Data& data = checker_.data();

    // Kinematics: seven angles -> Pinocchio configuration (cos, sin for continuous joints).
    for (int k = 0; k < kDof; ++k) {
      if (continuous_[k]) {
        qpin_[idx_q_[k]] = std::cos(q[k]);
        qpin_[idx_q_[k] + 1] = std::sin(q[k]);
      } else {
        qpin_[idx_q_[k]] = q[k];
      }
    }
    pinocchio::computeJointJacobians(model, data, qpin_);   // also forward kinematics
    pinocchio::updateFramePlacement(model, data, cfg_.tcp_frame);
    J_.setZero();
    pinocchio::getFrameJacobian(model, data, cfg_.tcp_frame, pinocchio::LOCAL_WORLD_ALIGNED, J_);
    const pinocchio::SE3& pose = data.oMf[cfg_.tcp_frame];
    const Eigen::Vector3d e_pos = target.translation() - pose.translation();
    const Eigen::Vector3d e_rot = pose.rotation() * pinocchio::log3(pose.rotation().transpose() * target.rotation());

    Vec7 grad;
    const double m = manipulability_of(J_, grad);
    const double scale = manipulability_.task_scale(m);
    const Twist v_des = frame_task_.desired_velocity(twist_in, e_pos, e_rot, scale);

    // Cost: frame task + regularisation + manipulability task. P goes out as its upper triangle.
    frame_task_.set_cost(J_, v_des, P_, q_lin);
    regularisation_.add_cost(P_);
    for (int c = 0, k = 0; c < kDof; ++c) {
      for (int r = 0; r <= c; ++r, ++k) P_upper[k] = P_(r, c);
    }
    manipulability_.add_cost(grad, secondary, q_lin);

    // Constraints: joint limits (a box on qd: identity rows), the manipulability barrier, the
    // collision barrier; rows without a bound of their own are unbounded.
    Eigen::Map<Eigen::MatrixXd> A(out_[2], rows_, kDof);
    A.setZero();
    A.topRows<kDof>().setIdentity();
    l.setConstant(-kOsqpInfinity);
    u.setConstant(kOsqpInfinity);
    velocity_bounds(q, qd_prev, l.head<kDof>(), u.head<kDof>());
    manipulability_.set_row(m, grad, A, kDof, l);
    const std::vector<Proximity>& close = checker_.update(collision_.influence);
    const int n_close = collision_.set_rows(close, A, kDof + 1, l);
    cut_rows_to_box_reach(A, kDof, kDof + 1 + n_close, cfg_.reach_backoff, l, u);
    info[0] = m;
    info[1] = checker_.min_distance();
    info[2] = e_pos.norm();
    info[3] = e_rot.norm();
    info[4] = scale;
    info[5] = n_close;
    return n_close;
  }

 private:
  // The data pointer of a contiguous float64 numpy vector of `size` entries (eigenpy maps a
  // writable Ref onto numpy's memory, no copy).
  static double* bound_array(const bp::object& array, Eigen::Index size) {
    if (!bp::extract<Eigen::Ref<Eigen::VectorXd>>(array).check()) {
      PyErr_SetString(PyExc_TypeError, "TrackingCycle: output arrays must be contiguous float64 numpy vectors");
      bp::throw_error_already_set();
    }
    Eigen::Ref<Eigen::VectorXd> view = bp::extract<Eigen::Ref<Eigen::VectorXd>>(array)();
    if (view.size() != size) {
      PyErr_SetString(PyExc_ValueError, "TrackingCycle: output arrays must have 28, 7, 7 * n_rows, n_rows, "
                                        "n_rows and 6 entries");
      bp::throw_error_already_set();
    }
    return view.data();
  }

  // Box on qd from velocity, acceleration and position limits. Near a position limit the joint
  // must be able to stop before it at the acceleration limit; where that and the acceleration
  // limit cannot both hold, the position limit wins (the joint brakes harder rather than
  // crossing it).
  // The largest speed v for this cycle from which the joint still stops within `room` braking at
  // `a` in steps of dt (it moves v dt, then (v - a dt) dt, ...): v (v + a dt) / (2 a) <= room.
  // The continuous-time sqrt(2 a room) is reached a step too late and the last braking step then
  // exceeds a. `room` less a dt^2 / 8 covers speeds between whole multiples of a dt.
  static double stoppable(double a, double room, double dt) {
    const double r = std::max(room - a * dt * dt / 8.0, 0.0);
    return std::sqrt(0.25 * a * a * dt * dt + 2.0 * a * r) - 0.5 * a * dt;
  }

  template <typename Out>
  void velocity_bounds(const Vec7& q, const Vec7& qd_prev, Out lo, Out hi) const {
    const double dt = cfg_.dt;
    for (int i = 0; i < kDof; ++i) {
      const double l = std::max(-vmax_[i], qd_prev[i] - amax_[i] * dt);
      const double h = std::min(vmax_[i], qd_prev[i] + amax_[i] * dt);
      const double room_hi = std::max(upper_[i] - q[i], 0.0), room_lo = std::max(q[i] - lower_[i], 0.0);
      const double hi_pos = std::min(stoppable(amax_[i], room_hi, dt), room_hi / dt);
      const double lo_pos = -std::min(stoppable(amax_[i], room_lo, dt), room_lo / dt);
      double h2 = std::min(h, hi_pos), l2 = std::max(l, lo_pos);
      if (l2 > h2) {
        h2 = std::max(hi_pos, lo_pos);
        l2 = std::min(std::min(hi_pos, std::max(lo_pos, l)), h2);
      }
      lo[i] = l2;
      hi[i] = h2;
    }
  }

  CollisionChecker& checker_;   // kept alive by the Python object (with_custodian_and_ward)
  CycleConfig cfg_;
  Vec7 vmax_, amax_, lower_, upper_;
  FrameTask frame_task_;
  Regularisation regularisation_;
  Manipulability manipulability_;
  CollisionBarrier collision_;
  Mat7 P_;
  int idx_q_[kDof];
  bool continuous_[kDof];
  Eigen::VectorXd qpin_;
  Jac6 J_;
  int rows_ = 0;
  bp::object buffers_[6];   // P_x, q_lin, A_x, l, u, info: kept alive, written through out_
  double* out_[6];
};

double py_manipulability(const Eigen::MatrixXd& J, RowRef grad_out) {
  if (J.rows() != 6 || J.cols() != kDof || grad_out.size() != kDof) {
    PyErr_SetString(PyExc_ValueError, "manipulability: J must be 6x7 and grad 7");
    bp::throw_error_already_set();
  }
  Vec7 grad;
  const double m = manipulability_of(J, grad);
  grad_out = grad;
  return m;
}

BOOST_PYTHON_MODULE(_cycle) {
  eigenpy::enableEigenPy();
  eigenpy::enableEigenPySpecific<Eigen::VectorXi>();
  bp::import("pinocchio");   // registers the Model/Data/SE3 converters this module's signatures use

  bp::def("manipulability", &py_manipulability, (bp::arg("J"), bp::arg("grad")),
          "Yoshikawa measure of a 6x7 Jacobian; writes its gradient in q into grad.");

  bp::class_<CollisionChecker, boost::noncopyable>(
      "CollisionChecker",
      bp::init<bp::object, bp::object, bp::object, bp::object, const Eigen::VectorXd&, const Eigen::VectorXi&,
               const Eigen::VectorXi&, const Eigen::VectorXi&, const Eigen::VectorXi&, const Eigen::MatrixXd&,
               const Eigen::MatrixXd&>(
          (bp::arg("model"), bp::arg("data"), bp::arg("geom_model"), bp::arg("geom_data"), bp::arg("radius"),
           bp::arg("pair_a"), bp::arg("pair_b"), bp::arg("joint_a"), bp::arg("joint_b"), bp::arg("box_center"),
           bp::arg("box_half"))))
      .def("proximities", &CollisionChecker::py_proximities, bp::arg("influence"),
           "(distances, [(pair, distance, row, point_a, point_b)]) at the latest kinematics update");

  bp::class_<CycleConfig>("CycleConfig")
      .def_readwrite("tcp_frame", &CycleConfig::tcp_frame)
      .def_readwrite("dt", &CycleConfig::dt)
      .def_readwrite("position_gain", &CycleConfig::position_gain)
      .def_readwrite("orientation_gain", &CycleConfig::orientation_gain)
      .def_readwrite("damping", &CycleConfig::damping)
      .def_readwrite("manipulability_weight", &CycleConfig::manipulability_weight)
      .def_readwrite("manipulability_floor", &CycleConfig::manipulability_floor)
      .def_readwrite("manipulability_min", &CycleConfig::manipulability_min)
      .def_readwrite("manipulability_gain", &CycleConfig::manipulability_gain)
      .def_readwrite("collision_influence", &CycleConfig::collision_influence)
      .def_readwrite("collision_speed", &CycleConfig::collision_speed)
      .def_readwrite("max_collision_rows", &CycleConfig::max_collision_rows)
      .def_readwrite("reach_backoff", &CycleConfig::reach_backoff)
      .def_readwrite("task_weight", &CycleConfig::task_weight)
      .def_readwrite("velocity_limit", &CycleConfig::velocity_limit)
      .def_readwrite("acceleration_limit", &CycleConfig::acceleration_limit)
      .def_readwrite("lower", &CycleConfig::lower)
      .def_readwrite("upper", &CycleConfig::upper)
      .def_readwrite("pair_margin", &CycleConfig::pair_margin);

  bp::class_<TrackingCycle, boost::noncopyable>(
      "TrackingCycle",
      bp::init<CollisionChecker&, const CycleConfig&, bp::object, bp::object, bp::object, bp::object, bp::object,
               bp::object>((bp::arg("checker"), bp::arg("config"), bp::arg("P_x"), bp::arg("q_lin"), bp::arg("A_x"),
                            bp::arg("l"), bp::arg("u"), bp::arg("info")))[bp::with_custodian_and_ward<1, 2>()])
      .add_property("n_rows", &TrackingCycle::n_rows)
      .def("fill", &TrackingCycle::fill,
           (bp::arg("q"), bp::arg("qd_prev"), bp::arg("target"), bp::arg("twist_ff"), bp::arg("secondary")));
}
